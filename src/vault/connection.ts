import type { VaultIdentity } from './types.js';
import type { AllowedAddresses } from './address.js';
import { connectionKey, normalizeAddress } from './identity.js';
import { Agents, exchange } from './transport.js';

export { VaultTransportError } from './transport.js';

export interface VaultHttpRequest {
  method: 'GET' | 'POST';
  /** Under /v1/, already URL-encoded, without a leading slash; may carry a query string. */
  path: string;
  token?: string;
  body?: Record<string, unknown>;
}

/** Any HTTP answer, whatever its status; the caller classifies it. */
export interface VaultHttpResponse {
  status: number;
  body: unknown;
}

/**
 * Largest Vault answer read. A KV secret that fits in a Secret is under 1 MiB (base64 adds a third);
 * logins are a few KiB. A SecretSync may point spec.vault.address anywhere, so a bigger answer is
 * not read on: it would be buffered and parsed whole, several times its size in memory.
 */
export const MAX_RESPONSE_BYTES = 4 * 1024 * 1024;

/** Redirects followed per request (Vault HA standbys answer 307 to the active node during a failover). */
export const MAX_REDIRECTS = 2;

export interface TransportSettings {
  /** The one deadline of a request (--vault-timeout). */
  timeoutMs: number;
  /** Where requests and redirects may go (--vault-allowed-addresses and --vault-address). */
  allowed: AllowedAddresses;
}

/**
 * One connection to one (address, Vault namespace, CA bundle): our transport (transport.ts) with
 * its deadline, response bound and redirect rules on every request. The URL and headers are built
 * from the call and this connection's identity only: no VAULT_ADDR, VAULT_TOKEN, VAULT_NAMESPACE,
 * VAULT_PREFIX or VAULT_SKIP_VERIFY from the environment ever reaches the wire. (node-vault, which
 * this replaced, was only ever a pass-through to our request function and loaded axios, tv4 and
 * mustache for it: docs/benchmarks.md, issue 14.)
 */
export class VaultConnection {
  readonly address: string;
  readonly #agents: Agents;
  readonly #settings: TransportSettings;
  readonly #vaultNamespace: string | undefined;
  #inFlight = 0;

  constructor(identity: Pick<VaultIdentity, 'address' | 'vaultNamespace' | 'caBundle'>, settings: TransportSettings) {
    this.address = normalizeAddress(identity.address);
    this.#settings = settings;
    this.#vaultNamespace = identity.vaultNamespace;
    this.#agents = new Agents(identity.caBundle);
  }

  /** Requests running on this connection; a connection with any is never closed by the pool. */
  get inFlight(): number {
    return this.#inFlight;
  }

  /**
   * Any HTTP answer, whatever its status. Throws VaultTransportError when no usable HTTP answer
   * came, or the signal's reason when it aborts.
   */
  async send(req: VaultHttpRequest, signal?: AbortSignal): Promise<VaultHttpResponse> {
    this.#inFlight += 1;
    try {
      const url = new URL(`${this.address}/v1/${req.path}`);
      const headers: Record<string, string> = { accept: 'application/json' };
      if (req.token !== undefined) headers['x-vault-token'] = req.token;
      if (this.#vaultNamespace !== undefined) headers['x-vault-namespace'] = this.#vaultNamespace;
      return await exchange(
        {
          method: req.method,
          url,
          headers,
          ...(req.body === undefined ? {} : { body: JSON.stringify(req.body) }),
        },
        {
          timeoutMs: this.#settings.timeoutMs,
          maxResponseBytes: MAX_RESPONSE_BYTES,
          maxRedirects: MAX_REDIRECTS,
          allowed: this.#settings.allowed,
          agentFor: (u) => this.#agents.for(u),
        },
        signal,
      );
    } finally {
      this.#inFlight -= 1;
    }
  }

  close(): void {
    this.#agents.destroy();
  }
}

/**
 * Connections by (address, namespace, CA); bounded, because namespaces and CA bundles come from
 * user specs. Only an idle connection (no request in flight) is ever closed, the least recently
 * used first, so one tenant's new connections cannot reset another's requests; while every
 * connection is busy the pool may hold more than its bound, by at most --vault-max-in-flight
 * (the limiter lets no more requests run at once).
 */
export class ConnectionPool {
  /** Insertion order is use order: a used connection is moved to the end. */
  readonly #connections = new Map<string, VaultConnection>();

  constructor(
    readonly settings: TransportSettings,
    readonly maxIdle = 64,
  ) {}

  /** Sends on the identity's connection; that connection stays open until the answer is in. */
  send(identity: VaultIdentity, req: VaultHttpRequest, signal?: AbortSignal): Promise<VaultHttpResponse> {
    const key = connectionKey(identity);
    let connection = this.#connections.get(key);
    if (connection === undefined) connection = new VaultConnection(identity, this.settings);
    else this.#connections.delete(key);
    this.#connections.set(key, connection);
    const pending = connection.send(req, signal);
    this.#trim();
    return pending;
  }

  get size(): number {
    return this.#connections.size;
  }

  close(): void {
    for (const c of this.#connections.values()) c.close();
    this.#connections.clear();
  }

  #trim(): void {
    let excess = this.#connections.size - this.maxIdle;
    for (const [key, connection] of this.#connections) {
      if (excess <= 0) return;
      if (connection.inFlight > 0) continue;
      this.#connections.delete(key);
      connection.close();
      excess -= 1;
    }
  }
}
