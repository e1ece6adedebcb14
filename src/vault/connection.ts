import http from 'node:http';
import https from 'node:https';
import { LRUCache } from 'lru-cache';
import NodeVault from 'node-vault';
import type { VaultIdentity } from './types.js';
import { connectionKey } from './identity.js';
import { waitFor } from './flight.js';

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
 * No HTTP answer (refused, reset, timed out, TLS failure). Built only from the error code and
 * the transport's message, never from the request, so it cannot carry a token or JWT.
 */
export class VaultTransportError extends Error {
  override readonly name = 'VaultTransportError';
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Largest Vault answer read. A KV secret that fits in a Secret is under 1 MiB (base64 adds a third);
 * logins are a few KiB. A SecretSync may point spec.vault.address anywhere, so a bigger answer is
 * not read on: node-vault would buffer and parse it whole, several times its size in memory.
 */
export const MAX_RESPONSE_BYTES = 4 * 1024 * 1024;

/** One node-vault client for one (address, Vault namespace, CA bundle). */
export class VaultConnection {
  readonly address: string;
  readonly #client: NodeVault.client;
  readonly #agent: http.Agent;
  readonly #timeoutMs: number;

  constructor(identity: Pick<VaultIdentity, 'address' | 'vaultNamespace' | 'caBundle'>, timeoutMs: number) {
    this.address = identity.address.replace(/\/+$/, '');
    this.#timeoutMs = timeoutMs;
    this.#agent = this.address.startsWith('https:')
      ? new https.Agent({ keepAlive: true, ...(identity.caBundle === undefined ? {} : { ca: identity.caBundle }) })
      : new http.Agent({ keepAlive: true });
    limitResponses(this.#agent, MAX_RESPONSE_BYTES);
    this.#client = NodeVault({
      endpoint: this.address,
      apiVersion: 'v1',
      // node-vault's debug output would print request bodies, which include the login JWT.
      debug: () => undefined,
    });
    // node-vault falls back to VAULT_TOKEN, VAULT_NAMESPACE and VAULT_PREFIX from the environment;
    // this client must use exactly what the identity says. Tokens go per request, never on the
    // shared client, and every HTTP status comes back as a value to classify.
    Object.assign(this.#client, {
      token: '',
      namespace: identity.vaultNamespace ?? '',
      pathPrefix: '',
      handleVaultResponse: (res: unknown) => Promise.resolve(res),
    });
  }

  /** Throws VaultTransportError when no HTTP answer came, or the signal's reason when it aborts. */
  async send(req: VaultHttpRequest, signal?: AbortSignal): Promise<VaultHttpResponse> {
    const headers: Record<string, string> = {};
    if (req.token !== undefined) headers['X-Vault-Token'] = req.token;
    const pending = this.#client
      .request({
        method: req.method,
        path: `/${req.path}`,
        headers,
        timeout: this.#timeoutMs,
        ...(req.body === undefined ? {} : { json: req.body }),
        ...(this.#agent instanceof https.Agent ? { httpsAgent: this.#agent } : { httpAgent: this.#agent }),
      })
      .then(toResponse, (err: unknown) => {
        throw toTransportError(err);
      });
    return waitFor(pending, signal);
  }

  close(): void {
    this.#agent.destroy();
  }
}

interface AgentInternals {
  addRequest(req: http.ClientRequest, options: unknown): void;
}

/**
 * Bounds every answer `agent` carries: past `maxBytes` the request fails (ERESPONSETOOLARGE) and the
 * rest is not read. A compressed answer is left compressed (it then fails to parse as JSON), so a
 * small body cannot inflate past the bound either: Vault does not compress its answers. addRequest is
 * the hook Node's agents run for every request; node-vault offers no size option of its own.
 */
function limitResponses(agent: http.Agent, maxBytes: number): void {
  const internals = agent as unknown as AgentInternals;
  const addRequest = internals.addRequest.bind(agent);
  internals.addRequest = (req, options) => {
    // First in line, before the HTTP client looks at the headers or reads a byte.
    req.prependOnceListener('response', (res: http.IncomingMessage) => {
      delete res.headers['content-encoding'];
      let bytes = 0;
      res.on('data', (chunk: Buffer) => {
        bytes += chunk.length;
        if (bytes > maxBytes) {
          req.destroy(new VaultTransportError('ERESPONSETOOLARGE', `the answer is over ${maxBytes} bytes`));
        }
      });
    });
    addRequest(req, options);
  };
}

function toResponse(res: unknown): VaultHttpResponse {
  const r = res as { statusCode?: unknown; body?: unknown } | undefined;
  if (typeof r?.statusCode !== 'number') throw new VaultTransportError('EBADRESPONSE', 'no HTTP status in response');
  return { status: r.statusCode, body: r.body };
}

const TIMEOUT_CODES = new Set(['ECONNABORTED', 'ETIMEDOUT']);

function toTransportError(err: unknown): VaultTransportError {
  const e = err as { code?: unknown; message?: unknown; cause?: { code?: unknown } } | undefined;
  const rawCode = typeof e?.code === 'string' ? e.code : typeof e?.cause?.code === 'string' ? e.cause.code : 'EUNKNOWN';
  const code = TIMEOUT_CODES.has(rawCode) ? 'ETIMEDOUT' : rawCode;
  // Transport messages name the code and the peer ("connect ECONNREFUSED 127.0.0.1:8200"),
  // never headers or bodies; cap them anyway.
  const message = typeof e?.message === 'string' ? e.message.slice(0, 200) : code;
  return new VaultTransportError(code, message);
}

/**
 * Connections by (address, namespace, CA); bounded, because addresses come from user specs. An
 * evicted connection's sockets are closed; a request still on one fails as VaultUnavailable and
 * is retried by the queue's backoff, which is rare enough (more distinct Vaults than the bound).
 */
export class ConnectionPool {
  readonly #connections: LRUCache<string, VaultConnection>;

  constructor(
    readonly timeoutMs: number,
    maxConnections = 64,
  ) {
    this.#connections = new LRUCache<string, VaultConnection>({
      max: maxConnections,
      dispose: (connection) => {
        connection.close();
      },
    });
  }

  get(identity: VaultIdentity): VaultConnection {
    const key = connectionKey(identity);
    let connection = this.#connections.get(key);
    if (connection === undefined) {
      connection = new VaultConnection(identity, this.timeoutMs);
      this.#connections.set(key, connection);
    }
    return connection;
  }

  close(): void {
    this.#connections.clear();
  }
}
