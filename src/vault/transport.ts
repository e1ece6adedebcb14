/**
 * The HTTP exchange of every Vault request (connection.ts), with the rules a hostile Vault-API server cannot bend (a
 * SecretSync chooses its address, and any server may redirect):
 *
 * - one deadline per request, connect + headers + whole body + every redirect, after which (or when
 *   the caller's signal aborts) the socket is destroyed, not just abandoned;
 * - at most `maxResponseBytes` read, counted on the stream as it arrives; a Content-Encoding is
 *   refused rather than inflated, so the bound holds on what is parsed;
 * - a redirect is followed only as 307/308, to an allowed address with the same scheme, at most
 *   `maxRedirects` times; anything else is an error, and the request is never sent there;
 * - no environment: Node's agents made here read no HTTP(S)_PROXY/NO_PROXY, and the URL and headers
 *   are exactly the caller's (no VAULT_* environment fallbacks, see connection.ts).
 */
import http from 'node:http';
import https from 'node:https';
import type { AllowedAddresses } from './address.js';

/**
 * No usable HTTP answer (refused, reset, timed out, TLS failure, a refused redirect or an answer
 * over the bound). Built only from an error code and a message written here or by Node's socket
 * layer, never from the request, so it cannot carry a token or JWT.
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

export interface TransportRequest {
  method: 'GET' | 'POST';
  url: URL;
  headers: Record<string, string>;
  /** JSON text. */
  body?: string;
}

export interface TransportResponse {
  status: number;
  /** The parsed JSON; the text itself when it is not JSON ('' when empty). */
  body: unknown;
}

export interface TransportOptions {
  /** The one deadline of a request, all of it. */
  timeoutMs: number;
  maxResponseBytes: number;
  maxRedirects: number;
  allowed: AllowedAddresses;
  /** The keep-alive agent for an origin (a redirect may go to another allowed origin). */
  agentFor: (url: URL) => http.Agent;
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
/** Statuses that keep the method and body: what Vault standbys send (307). 301/302/303 may turn a
 *  POST into a GET, which a Vault API call never wants. */
const FOLLOWED = new Set([307, 308]);

/** One request, redirects included, under one deadline. Rejects with VaultTransportError, or with
 *  the signal's reason when the caller aborts. */
export async function exchange(
  req: TransportRequest,
  options: TransportOptions,
  signal?: AbortSignal,
): Promise<TransportResponse> {
  const deadline = new AbortController();
  const timer = setTimeout(() => {
    deadline.abort(
      new VaultTransportError('ETIMEDOUT', `no complete answer within ${options.timeoutMs} ms (--vault-timeout)`),
    );
  }, options.timeoutMs);
  const onAbort = () => {
    deadline.abort(abortReason(signal));
  };
  if (signal?.aborted === true) onAbort();
  else signal?.addEventListener('abort', onAbort, { once: true });
  try {
    let url = req.url;
    for (let hops = 0; ; hops++) {
      if (!options.allowed.allows(url)) {
        throw new VaultTransportError('EADDRESSNOTALLOWED', 'the address is not in --vault-allowed-addresses');
      }
      const hop = await oneHop({ ...req, url }, options, deadline.signal);
      if (!('location' in hop)) return hop;
      url = redirectTarget(url, hop, hops, options);
    }
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener('abort', onAbort);
  }
}

/** Where a redirect may be followed to, or the reason it is not. The target is never quoted: it
 *  comes from the server, which may have put anything in it. */
function redirectTarget(from: URL, hop: { status: number; location: string }, hops: number, o: TransportOptions): URL {
  const refuse = (why: string) =>
    new VaultTransportError('EREDIRECT', `answered HTTP ${hop.status}, a redirect ${why}; it was not followed`);
  if (!FOLLOWED.has(hop.status)) throw refuse('that would not keep the request (only 307 and 308 are followed)');
  if (hops >= o.maxRedirects) throw refuse(`after ${hops} redirects already (at most ${o.maxRedirects} are followed)`);
  let to: URL;
  try {
    to = new URL(hop.location, from);
  } catch {
    throw refuse('to an unparseable location');
  }
  if (to.protocol !== from.protocol) throw refuse(`from ${from.protocol.slice(0, -1)} to another scheme`);
  if (to.username !== '' || to.password !== '' || !o.allowed.allows(to)) {
    throw refuse('to an address not in --vault-allowed-addresses');
  }
  return to;
}

type Hop = TransportResponse | { status: number; location: string };

function oneHop(req: TransportRequest, options: TransportOptions, signal: AbortSignal): Promise<Hop> {
  return new Promise<Hop>((resolve, reject) => {
    if (signal.aborted) {
      reject(abortReason(signal));
      return;
    }
    const client = req.url.protocol === 'https:' ? https : http;
    const headers: Record<string, string | number> = { ...req.headers };
    if (req.body !== undefined) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = Buffer.byteLength(req.body);
    }
    const r = client.request(req.url, { method: req.method, headers, agent: options.agentFor(req.url) });
    const fail = (err: Error) => {
      reject(err);
      // Destroys the socket, not only this request: nothing more is read from this server.
      r.destroy(err);
    };
    const onAbort = () => {
      fail(abortReason(signal));
    };
    signal.addEventListener('abort', onAbort, { once: true });
    r.on('close', () => {
      signal.removeEventListener('abort', onAbort);
      // A socket closed before the answer was complete; settled already in every other case.
      reject(new VaultTransportError('ECONNRESET', 'the connection closed before the answer was complete'));
    });
    r.on('error', (err) => {
      reject(toTransportError(err));
    });
    r.on('response', (res) => {
      const status = res.statusCode ?? 0;
      const location = res.headers.location;
      if (REDIRECTS.has(status) && location !== undefined) {
        resolve({ status, location });
        res.destroy();
        return;
      }
      const encoding = res.headers['content-encoding'];
      if (encoding !== undefined && encoding.trim().toLowerCase() !== 'identity') {
        fail(
          new VaultTransportError(
            'EBADENCODING',
            `the answer is compressed (${encoding.slice(0, 20)}), which Vault never sends`,
          ),
        );
        return;
      }
      const max = options.maxResponseBytes;
      const tooLarge = () => new VaultTransportError('ERESPONSETOOLARGE', `the answer is over ${max} bytes`);
      if (Number(res.headers['content-length'] ?? 0) > max) {
        fail(tooLarge());
        return;
      }
      const chunks: Buffer[] = [];
      let bytes = 0;
      res.on('data', (chunk: Buffer) => {
        bytes += chunk.length;
        if (bytes > max) fail(tooLarge());
        else chunks.push(chunk);
      });
      res.on('end', () => {
        resolve({ status, body: parseBody(Buffer.concat(chunks, bytes).toString('utf8')) });
      });
      res.on('error', (err) => {
        reject(toTransportError(err));
      });
    });
    r.end(req.body);
  });
}

function parseBody(text: string): unknown {
  if (text === '') return '';
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

function abortReason(signal: AbortSignal | undefined): Error {
  const reason: unknown = signal?.reason;
  return reason instanceof Error ? reason : new DOMException('The operation was aborted', 'AbortError');
}

function toTransportError(err: unknown): Error {
  if (err instanceof VaultTransportError) return err;
  if (err instanceof DOMException || (err instanceof Error && err.name === 'AbortError')) return err;
  const e = err as { code?: unknown; message?: unknown } | undefined;
  const code = typeof e?.code === 'string' ? e.code : 'EUNKNOWN';
  // Node's socket and TLS messages name the code and the peer ("connect ECONNREFUSED 127.0.0.1:8200"),
  // never headers or bodies; cap them anyway.
  const message = typeof e?.message === 'string' ? e.message.slice(0, 200) : code;
  return new VaultTransportError(code, message);
}

/** Keep-alive agents per origin. Built with no proxy settings: Node's agents read no environment
 *  unless given `proxyEnv`, which these never are. */
export class Agents {
  readonly #agents = new Map<string, http.Agent>();

  constructor(private readonly caBundle: string | undefined) {}

  for(url: URL): http.Agent {
    let agent = this.#agents.get(url.origin);
    if (agent === undefined) {
      agent =
        url.protocol === 'https:'
          ? new https.Agent({ keepAlive: true, ...(this.caBundle === undefined ? {} : { ca: this.caBundle }) })
          : new http.Agent({ keepAlive: true });
      this.#agents.set(url.origin, agent);
    }
    return agent;
  }

  destroy(): void {
    for (const agent of this.#agents.values()) agent.destroy();
    this.#agents.clear();
  }
}
