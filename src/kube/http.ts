import http, { type IncomingHttpHeaders } from 'node:http';
import https from 'node:https';
import { ApiException, type KubeConfig } from '@kubernetes/client-node';
import { ListItemSplitter } from './list-stream.js';
import { DEFAULT_REQUEST_TIMEOUT_MS } from './request.js';

export interface KubeRequest {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** API path, e.g. /api/v1/namespaces/ns/secrets (query parameters in `query`). */
  path: string;
  query?: Record<string, string | number | undefined>;
  /** Sent as JSON. */
  body?: unknown;
  /** Default application/json; patches name their strategy, e.g. application/merge-patch+json. */
  contentType?: string;
  signal?: AbortSignal | undefined;
  timeoutMs?: number;
}

/** The API server as plain JSON over HTTP: one request, its parsed answer. */
export interface KubeHttp {
  /** Resolves to the parsed JSON of a 2xx answer; rejects with ApiException (status, body) otherwise. */
  request(req: KubeRequest): Promise<unknown>;
  /**
   * A LIST whose items are parsed one at a time as they arrive and handed to `onItem` (the text
   * of the page is never held whole); resolves to the list without its items (metadata).
   */
  list(req: KubeRequest, onItem: (raw: unknown) => void): Promise<Record<string, unknown>>;
}

/** Bound on one answer: a list page of Secrets at the page size the reflector uses stays far below it. */
export const MAX_RESPONSE_BYTES = 256 * 2 ** 20;
/** Error bodies are Status objects; more than this is not worth keeping on an exception. */
const MAX_ERROR_BODY = 64 * 1024;

/**
 * The hot API calls (Secret reads and writes, status patches, list pages) without client-node's
 * generated layer: that layer goes through undici's fetch, a middleware chain, an ObjectSerializer
 * that builds a second, class-typed copy of every object, and a per-call AbortSignal.any/timeout
 * whose timers outlive the request, which together were most of the controller's garbage per sync
 * (docs/benchmarks.md). Authentication and TLS still come from the KubeConfig on every request
 * (token files rotate); one keep-alive Agent is kept while the TLS material is unchanged.
 */
export class KubeJsonClient implements KubeHttp {
  private readonly base: URL;
  private readonly isHttps: boolean;
  private agent: { agent: http.Agent; ca?: Buffer; cert?: Buffer; key?: Buffer; reject?: boolean } | undefined;

  constructor(
    private readonly kc: KubeConfig,
    private readonly maxSockets = 64,
  ) {
    const server = kc.getCurrentCluster()?.server;
    if (server === undefined) throw new Error(`kubeconfig context ${kc.getCurrentContext()} names no cluster`);
    this.base = new URL(server);
    this.isHttps = this.base.protocol === 'https:';
  }

  async request(req: KubeRequest): Promise<unknown> {
    const { status, body, responseHeaders } = await this.send(req, undefined);
    if (status < 200 || status > 299) throw apiException(status, body, responseHeaders);
    return body.length === 0 ? undefined : (JSON.parse(body.toString('utf8')) as unknown);
  }

  async list(req: KubeRequest, onItem: (raw: unknown) => void): Promise<Record<string, unknown>> {
    const splitter = new ListItemSplitter(onItem);
    const { status, body, responseHeaders } = await this.send(req, (chunk) => {
      splitter.write(chunk);
    });
    if (status < 200 || status > 299) throw apiException(status, body, responseHeaders);
    return splitter.end();
  }

  private async send(req: KubeRequest, stream: ((chunk: Buffer) => void) | undefined): Promise<Answer> {
    const opts: https.RequestOptions = { headers: {} };
    await this.kc.applyToHTTPSOptions(opts);
    const proxied = this.kc.getCurrentCluster()?.proxyUrl !== undefined;
    const agent = proxied ? opts.agent : this.agentFor(opts);
    const payload = req.body === undefined ? undefined : JSON.stringify(req.body);
    const headers: http.OutgoingHttpHeaders = { accept: 'application/json' };
    // client-node always fills a header object; the array form never occurs.
    if (opts.headers !== undefined && !Array.isArray(opts.headers)) Object.assign(headers, opts.headers);
    if (payload !== undefined) {
      headers['content-type'] = req.contentType ?? 'application/json';
      headers['content-length'] = Buffer.byteLength(payload);
    }
    const url = new URL(this.base.pathname.replace(/\/$/, '') + req.path, this.base);
    for (const [k, v] of Object.entries(req.query ?? {})) if (v !== undefined) url.searchParams.set(k, String(v));
    const send = this.isHttps ? https.request : http.request;
    const requestOptions: https.RequestOptions = { method: req.method, headers, agent };
    if (opts.auth !== undefined) requestOptions.auth = opts.auth;
    if (opts.servername !== undefined) requestOptions.servername = opts.servername;
    return exchange(
      send,
      url,
      requestOptions,
      payload,
      req.signal,
      req.timeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS,
      stream,
    );
  }

  /** Closes idle keep-alive connections (shutdown). */
  close(): void {
    this.agent?.agent.destroy();
    this.agent = undefined;
  }

  private agentFor(o: https.RequestOptions): http.Agent {
    const ca = asBuffer(o.ca);
    const cert = asBuffer(o.cert);
    const key = asBuffer(o.key);
    const reject = o.rejectUnauthorized;
    const cur = this.agent;
    if (cur && same(cur.ca, ca) && same(cur.cert, cert) && same(cur.key, key) && cur.reject === reject) {
      return cur.agent;
    }
    const common = {
      keepAlive: true,
      maxSockets: this.maxSockets,
      maxFreeSockets: this.maxSockets,
      scheduling: 'lifo' as const,
    };
    const agent = this.isHttps
      ? new https.Agent({
          ...common,
          ...(ca ? { ca } : {}),
          ...(cert ? { cert } : {}),
          ...(key ? { key } : {}),
          ...(reject === undefined ? {} : { rejectUnauthorized: reject }),
        })
      : new http.Agent(common);
    // A rotated certificate or CA: new connections from now on; the old ones finish what they carry.
    const old = cur?.agent;
    this.agent = {
      agent,
      ...(ca ? { ca } : {}),
      ...(cert ? { cert } : {}),
      ...(key ? { key } : {}),
      ...(reject === undefined ? {} : { reject }),
    };
    if (old !== undefined) setTimeout(() => old.destroy(), 60_000).unref();
    return agent;
  }
}

interface Answer {
  status: number;
  body: Buffer;
  responseHeaders: IncomingHttpHeaders;
}

/** One request and its whole answer; a timer and an abort listener that both go when it ends. */
function exchange(
  send: typeof https.request,
  url: URL,
  options: https.RequestOptions,
  payload: string | undefined,
  signal: AbortSignal | undefined,
  timeoutMs: number,
  stream: ((chunk: Buffer) => void) | undefined,
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(abortError(signal));
      return;
    }
    let done = false;
    const finish = (outcome: Error | Answer) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      if (outcome instanceof Error) reject(outcome);
      else resolve(outcome);
    };
    const r = send(url, options, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      // A 2xx answer of a streamed list goes to `stream` chunk by chunk; anything else is collected.
      const streaming = stream !== undefined && (res.statusCode ?? 0) >= 200 && (res.statusCode ?? 0) <= 299;
      res.on('data', (c: Buffer) => {
        if (streaming) {
          try {
            stream(c);
          } catch (err: unknown) {
            r.destroy(err instanceof Error ? err : new Error('bad list answer'));
          }
          return;
        }
        size += c.length;
        if (size > MAX_RESPONSE_BYTES) {
          r.destroy(new Error(`${options.method} ${url.pathname}: answer larger than ${MAX_RESPONSE_BYTES} bytes`));
          return;
        }
        chunks.push(c);
      });
      res.on('end', () => {
        finish({ status: res.statusCode ?? 0, body: Buffer.concat(chunks, size), responseHeaders: res.headers });
      });
      res.on('error', (err) => {
        finish(err);
      });
      res.on('aborted', () => {
        finish(new Error(`${options.method} ${url.pathname}: answer cut off`));
      });
    });
    const timer = setTimeout(() => {
      r.destroy(new Error(`${options.method} ${url.pathname}: no answer within ${timeoutMs} ms`));
    }, timeoutMs);
    const onAbort = () => {
      r.destroy(signal === undefined ? new Error('request aborted') : abortError(signal));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    r.on('error', (err) => {
      finish(err);
    });
    r.end(payload);
  });
}

function apiException(status: number, body: Buffer, headers: IncomingHttpHeaders): ApiException<string> {
  const text = body.subarray(0, MAX_ERROR_BODY).toString('utf8');
  return new ApiException(status, `HTTP ${status}`, text, flatHeaders(headers));
}

function abortError(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  return reason instanceof Error ? reason : new Error('request aborted');
}

function asBuffer(v: unknown): Buffer | undefined {
  if (v === undefined || v === null) return undefined;
  if (Buffer.isBuffer(v)) return v;
  if (typeof v === 'string') return Buffer.from(v);
  return undefined;
}

function same(a: Buffer | undefined, b: Buffer | undefined): boolean {
  return a === undefined || b === undefined ? a === b : a.equals(b);
}

function flatHeaders(h: IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(h)) if (v !== undefined) out[k] = Array.isArray(v) ? v.join(', ') : v;
  return out;
}
