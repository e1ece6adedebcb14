import http, { type IncomingHttpHeaders } from 'node:http';
import https from 'node:https';
import { asRecord } from '../core/json.js';
import type { KubeCredentials, RestConfig } from './kubeconfig.js';
import { ListItemSplitter } from './list-stream.js';
import { DEFAULT_REQUEST_TIMEOUT_MS, KubeApiError } from './request.js';

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
  /** Resolves to the parsed JSON of a 2xx answer; rejects with KubeApiError (status, body) otherwise. */
  request(req: KubeRequest): Promise<unknown>;
  /**
   * A LIST whose items are parsed one at a time as they arrive and handed to `onItem` (the text
   * of the page is never held whole); resolves to the list without its items (metadata).
   */
  list(req: KubeRequest, onItem: (raw: unknown) => void): Promise<Record<string, unknown>>;
  /**
   * A WATCH (`watch=true` is added): each event line is parsed and handed to `onEvent` as it
   * arrives. Resolves when the server ends the stream; rejects with KubeApiError when the answer is
   * not 200, with the signal's reason when it aborts, or with the transport's error. It has no
   * timer of its own: the caller asks for timeoutSeconds and keeps a watchdog (reflector.ts).
   */
  watch(req: Omit<KubeRequest, 'method' | 'body' | 'timeoutMs'>, onEvent: (event: WatchEvent) => void): Promise<void>;
}

/** One line of a watch stream. */
export interface WatchEvent {
  type: string;
  object: unknown;
}

/** Bound on one watch event line (a Secret is at most 1 MiB of data, base64 and metadata included). */
export const MAX_WATCH_LINE_BYTES = 16 * 2 ** 20;

/** Bound on one answer: a list page of Secrets at the page size the reflector uses stays far below it. */
export const MAX_RESPONSE_BYTES = 256 * 2 ** 20;
/** Error bodies are Status objects; more than this is not worth keeping on an exception. */
const MAX_ERROR_BODY = 64 * 1024;

/**
 * The hot API calls (Secret reads and writes, status patches, list pages) without client-node's
 * generated layer: that layer goes through undici's fetch, a middleware chain, an ObjectSerializer
 * that builds a second, class-typed copy of every object, and a per-call AbortSignal.any/timeout
 * whose timers outlive the request, which together were most of the controller's garbage per sync
 * (docs/benchmarks.md). It is the only API client of the `run` process: watches, leases, events
 * and TokenRequests go through it too. Authentication and TLS come from the RestConfig on every
 * request (token files rotate); one keep-alive Agent is kept while the TLS material is unchanged.
 */
export class KubeJsonClient implements KubeHttp {
  private readonly base: URL;
  private readonly isHttps: boolean;
  /**
   * Requests share one bounded keep-alive pool; watches get their own, unbounded one: a watch holds
   * its socket for minutes, and one per namespace and resource (2 × --namespaces) must never take
   * the sockets the requests need.
   */
  private agent:
    { agent: http.Agent; watch: http.Agent; ca?: Buffer; cert?: Buffer; key?: Buffer; reject?: boolean } | undefined;

  constructor(
    private readonly config: RestConfig,
    private readonly maxSockets = 64,
  ) {
    this.base = new URL(config.server);
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

  async watch(
    req: Omit<KubeRequest, 'method' | 'body' | 'timeoutMs'>,
    onEvent: (event: WatchEvent) => void,
  ): Promise<void> {
    const lines = new LineSplitter((line) => {
      const parsed = asRecord(JSON.parse(line));
      if (parsed === undefined || typeof parsed.type !== 'string') throw new Error('watch event without a type');
      onEvent({ type: parsed.type, object: parsed.object });
    });
    const { status, body, responseHeaders } = await this.send(
      { ...req, method: 'GET', query: { ...req.query, watch: 'true' }, timeoutMs: 0 },
      (chunk) => {
        lines.write(chunk);
      },
      'watch',
    );
    if (status !== 200) throw apiException(status, body, responseHeaders);
    lines.end();
  }

  private async send(
    req: KubeRequest,
    stream: ((chunk: Buffer) => void) | undefined,
    pool: 'request' | 'watch' = 'request',
  ): Promise<Answer> {
    const creds = await this.config.credentials();
    const agents = this.agentsFor(creds);
    const agent = pool === 'watch' ? agents.watch : agents.agent;
    const payload = req.body === undefined ? undefined : JSON.stringify(req.body);
    const headers: http.OutgoingHttpHeaders = { accept: 'application/json' };
    if (creds.authorization !== undefined) headers.authorization = creds.authorization;
    if (payload !== undefined) {
      headers['content-type'] = req.contentType ?? 'application/json';
      headers['content-length'] = Buffer.byteLength(payload);
    }
    const url = new URL(this.base.pathname.replace(/\/$/, '') + req.path, this.base);
    for (const [k, v] of Object.entries(req.query ?? {})) if (v !== undefined) url.searchParams.set(k, String(v));
    const send = this.isHttps ? https.request : http.request;
    const requestOptions: https.RequestOptions = { method: req.method, headers, agent };
    if (creds.servername !== undefined) requestOptions.servername = creds.servername;
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
    this.agent?.watch.destroy();
    this.agent = undefined;
  }

  private agentsFor(o: KubeCredentials): { agent: http.Agent; watch: http.Agent } {
    const { ca, cert, key } = o;
    const reject = o.rejectUnauthorized;
    const cur = this.agent;
    if (cur && same(cur.ca, ca) && same(cur.cert, cert) && same(cur.key, key) && cur.reject === reject) {
      return cur;
    }
    const make = (maxSockets: number) => {
      const common = { keepAlive: true, maxSockets, maxFreeSockets: this.maxSockets, scheduling: 'lifo' as const };
      return this.isHttps
        ? new https.Agent({
            ...common,
            ...(ca ? { ca } : {}),
            ...(cert ? { cert } : {}),
            ...(key ? { key } : {}),
            rejectUnauthorized: reject,
          })
        : new http.Agent(common);
    };
    // A rotated certificate or CA: new connections from now on; the old ones finish what they carry
    // (a watch on the old pool ends within the minute and resumes on the new one).
    const old = cur;
    this.agent = {
      agent: make(this.maxSockets),
      watch: make(Infinity),
      ...(ca ? { ca } : {}),
      ...(cert ? { cert } : {}),
      ...(key ? { key } : {}),
      reject,
    };
    if (old !== undefined) {
      setTimeout(() => {
        old.agent.destroy();
        old.watch.destroy();
      }, 60_000).unref();
    }
    return this.agent;
  }
}

interface Answer {
  status: number;
  body: Buffer;
  responseHeaders: IncomingHttpHeaders;
}

/**
 * One request and its whole answer; a timer (none when timeoutMs is 0) and an abort listener that
 * both go when it ends.
 */
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
    const timer =
      timeoutMs > 0
        ? setTimeout(() => {
            r.destroy(new Error(`${options.method} ${url.pathname}: no answer within ${timeoutMs} ms`));
          }, timeoutMs)
        : undefined;
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

function apiException(status: number, body: Buffer, headers: IncomingHttpHeaders): KubeApiError {
  const text = body.subarray(0, MAX_ERROR_BODY).toString('utf8');
  return new KubeApiError(status, text, flatHeaders(headers));
}

/**
 * Newline-delimited lines from chunks cut anywhere: split on the byte 0x0a (which never occurs
 * inside a multi-byte UTF-8 character), decode whole lines only, bound what is held.
 */
export class LineSplitter {
  private pending: Buffer[] = [];
  private pendingBytes = 0;

  constructor(
    private readonly onLine: (line: string) => void,
    private readonly maxLineBytes = MAX_WATCH_LINE_BYTES,
  ) {}

  write(chunk: Buffer): void {
    let start = 0;
    for (let nl = chunk.indexOf(0x0a); nl !== -1; nl = chunk.indexOf(0x0a, start)) {
      const part = chunk.subarray(start, nl);
      const line = this.pending.length === 0 ? part : Buffer.concat([...this.pending, part]);
      this.pending = [];
      this.pendingBytes = 0;
      start = nl + 1;
      const text = line.toString('utf8').trim();
      if (text !== '') this.onLine(text);
    }
    if (start < chunk.length) {
      this.pendingBytes += chunk.length - start;
      if (this.pendingBytes > this.maxLineBytes) throw new Error(`watch event longer than ${this.maxLineBytes} bytes`);
      this.pending.push(chunk.subarray(start));
    }
  }

  /** A last line without its newline still counts. */
  end(): void {
    if (this.pending.length === 0) return;
    const text = Buffer.concat(this.pending).toString('utf8').trim();
    this.pending = [];
    this.pendingBytes = 0;
    if (text !== '') this.onLine(text);
  }
}

function abortError(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  return reason instanceof Error ? reason : new Error('request aborted');
}

function same(a: Buffer | undefined, b: Buffer | undefined): boolean {
  return a === undefined || b === undefined ? a === b : a.equals(b);
}

function flatHeaders(h: IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(h)) if (v !== undefined) out[k] = Array.isArray(v) ? v.join(', ') : v;
  return out;
}
