import NodeVault from 'node-vault';
import type { VaultIdentity } from './types.js';
import type { AllowedAddresses } from './address.js';
import { connectionKey, normalizeAddress } from './identity.js';
import { Agents, exchange, VaultTransportError } from './transport.js';

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

/** What node-vault hands its request function: our call rides along under a symbol. */
const CALL = Symbol('vaultsync.call');

interface Call {
  req: VaultHttpRequest;
  signal: AbortSignal | undefined;
  /** The answer, whatever its status: node-vault rejects non-2xx answers, and resolves 2xx with the body only. */
  response?: VaultHttpResponse;
}

interface NodeVaultRequestOptions {
  [CALL]?: Call;
}

/**
 * One node-vault client for one (address, Vault namespace, CA bundle), driven through node-vault's
 * `request-promise` option with our own request function (transport.ts): its deadlines, response
 * bound and redirect rules apply to every request, and node-vault's environment fallbacks
 * (VAULT_ADDR, VAULT_TOKEN, VAULT_NAMESPACE, VAULT_PREFIX, VAULT_SKIP_VERIFY) never reach the wire:
 * the request function builds the URL and headers from the call and this connection's identity only.
 */
export class VaultConnection {
  readonly address: string;
  readonly #client: NodeVault.client;
  readonly #agents: Agents;
  readonly #settings: TransportSettings;
  readonly #vaultNamespace: string | undefined;
  #inFlight = 0;

  constructor(identity: Pick<VaultIdentity, 'address' | 'vaultNamespace' | 'caBundle'>, settings: TransportSettings) {
    this.address = normalizeAddress(identity.address);
    this.#settings = settings;
    this.#vaultNamespace = identity.vaultNamespace;
    this.#agents = new Agents(identity.caBundle);
    this.#client = NodeVault({
      endpoint: this.address,
      apiVersion: 'v1',
      // node-vault's debug output would print request bodies, which include the login JWT.
      debug: () => undefined,
      'request-promise': {
        defaults: () => (options: NodeVaultRequestOptions) => this.#request(options),
      },
    });
  }

  /** Requests running on this connection; a connection with any is never closed by the pool. */
  get inFlight(): number {
    return this.#inFlight;
  }

  /** Throws VaultTransportError when no usable HTTP answer came, or the signal's reason when it aborts. */
  async send(req: VaultHttpRequest, signal?: AbortSignal): Promise<VaultHttpResponse> {
    this.#inFlight += 1;
    const call: Call = { req, signal };
    try {
      const options: NodeVault.RequestOption & NodeVaultRequestOptions = {
        method: req.method,
        path: `/${req.path}`,
        [CALL]: call,
      };
      await this.#client.request(options);
    } catch (err) {
      // An HTTP answer node-vault turned into an error (any non-2xx) is still an answer to classify.
      if (call.response === undefined) throw err;
    } finally {
      this.#inFlight -= 1;
    }
    if (call.response === undefined) throw new VaultTransportError('EBADRESPONSE', 'no HTTP answer recorded');
    return call.response;
  }

  close(): void {
    this.#agents.destroy();
  }

  async #request(options: NodeVaultRequestOptions): Promise<{ statusCode: number; body: unknown; request: object }> {
    const call = options[CALL];
    if (call === undefined) throw new VaultTransportError('EINTERNAL', 'a request vaultsync did not make');
    const { req } = call;
    const url = new URL(`${this.address}/v1/${req.path}`);
    const headers: Record<string, string> = { accept: 'application/json' };
    if (req.token !== undefined) headers['x-vault-token'] = req.token;
    if (this.#vaultNamespace !== undefined) headers['x-vault-namespace'] = this.#vaultNamespace;
    const res = await exchange(
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
      call.signal,
    );
    call.response = res;
    return { statusCode: res.status, body: res.body, request: { path: url.pathname } };
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
