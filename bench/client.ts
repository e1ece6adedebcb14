/**
 * The bench's own HTTP client: keep-alive connections (a bare client that opened a TLS connection
 * per request would understate the apiserver's create rate), JSON bodies, retries of transient
 * failures for setup writes, and a line-delimited watch reader.
 */
import { Agent as HttpAgent, request as httpRequest } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import type { Endpoint } from '../test/env/http.js';

export interface Reply<T = unknown> {
  status: number;
  body: T;
  text: string;
}

export class Client {
  private readonly agent: HttpAgent;

  constructor(
    readonly ep: Endpoint,
    maxSockets: number,
  ) {
    const opts = { keepAlive: true, maxSockets, maxFreeSockets: maxSockets };
    this.agent = ep.url.startsWith('https:') ? new HttpsAgent({ ...opts, ...(ep.tls ?? {}) }) : new HttpAgent(opts);
  }

  request<T = unknown>(
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
    timeoutMs = 60_000,
  ): Promise<Reply<T>> {
    const url = new URL(path, this.ep.url);
    const payload = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
    const req = url.protocol === 'https:' ? httpsRequest : httpRequest;
    return new Promise((resolve, reject) => {
      const r = req(
        url,
        {
          method,
          agent: this.agent,
          headers: {
            accept: 'application/json',
            ...(payload === undefined
              ? {}
              : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) }),
            ...this.ep.headers,
            ...headers,
          },
          timeout: timeoutMs,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let parsed: unknown = text;
            if (text !== '' && (res.headers['content-type'] ?? '').includes('json')) {
              try {
                parsed = JSON.parse(text);
              } catch {
                parsed = text;
              }
            }
            resolve({ status: res.statusCode ?? 0, body: parsed as T, text });
          });
          res.on('error', reject);
        },
      );
      r.on('timeout', () => r.destroy(new Error(`${method} ${url.pathname}: timed out`)));
      r.on('error', reject);
      if (payload !== undefined) r.write(payload);
      r.end();
    });
  }

  /** Like request(), but retries 429/5xx/connection errors a few times and throws on other non-2xx not in `ok`. */
  async must<T = unknown>(
    method: string,
    path: string,
    body?: unknown,
    ok: number[] = [],
    headers: Record<string, string> = {},
  ): Promise<Reply<T>> {
    let last = '';
    for (let attempt = 0; attempt < 6; attempt++) {
      if (attempt > 0) await sleep(200 * 2 ** attempt);
      let res: Reply<T>;
      try {
        res = await this.request<T>(method, path, body, headers);
      } catch (err) {
        last = (err as Error).message;
        continue;
      }
      if ((res.status >= 200 && res.status < 300) || ok.includes(res.status)) return res;
      last = `HTTP ${res.status}: ${res.text.slice(0, 300)}`;
      if (res.status !== 429 && res.status < 500) break;
    }
    throw new Error(`${method} ${path}: ${last}`);
  }

  /**
   * Streams a Kubernetes watch (`?watch=true`) and calls `onEvent` for each event until `signal`
   * aborts. A stream the apiserver closes is reopened from the last resourceVersion seen.
   */
  async watch(
    path: string,
    resourceVersion: string,
    onEvent: (type: string, obj: WatchObject) => void,
    signal: AbortSignal,
  ): Promise<void> {
    let rv = resourceVersion;
    while (!signal.aborted) {
      const sep = path.includes('?') ? '&' : '?';
      const url = new URL(
        `${path}${sep}watch=true&allowWatchBookmarks=false&timeoutSeconds=600&resourceVersion=${rv}`,
        this.ep.url,
      );
      const req = url.protocol === 'https:' ? httpsRequest : httpRequest;
      await new Promise<void>((resolve) => {
        const r = req(
          url,
          {
            method: 'GET',
            agent: false,
            headers: { accept: 'application/json', ...this.ep.headers },
            ...(this.ep.tls ?? {}),
          },
          (res) => {
            let buf = '';
            res.setEncoding('utf8');
            res.on('data', (chunk: string) => {
              buf += chunk;
              let nl = buf.indexOf('\n');
              while (nl !== -1) {
                const line = buf.slice(0, nl);
                buf = buf.slice(nl + 1);
                nl = buf.indexOf('\n');
                if (line.trim() === '') continue;
                const ev = JSON.parse(line) as { type: string; object: WatchObject };
                if (ev.type === 'ERROR') {
                  rv = ''; // 410 Gone: restart from "now"; the caller's objects are recent anyway
                  continue;
                }
                rv = ev.object.metadata.resourceVersion;
                onEvent(ev.type, ev.object);
              }
            });
            res.on('end', resolve);
            res.on('error', () => resolve());
          },
        );
        const abort = () => r.destroy();
        signal.addEventListener('abort', abort, { once: true });
        r.on('error', () => resolve());
        r.on('close', () => {
          signal.removeEventListener('abort', abort);
          resolve();
        });
        r.end();
      });
      // The stream ended without an abort (server timeout, error): pause, then resume from rv.
      if (!isAborted(signal)) await sleep(100);
    }
  }

  close(): void {
    this.agent.destroy();
  }
}

export interface WatchObject {
  metadata: {
    name: string;
    namespace: string;
    resourceVersion: string;
    generation?: number;
    labels?: Record<string, string>;
  };
  status?: { conditions?: { type: string; status: string }[]; observedGeneration?: number };
  data?: Record<string, string>;
}

/** Read through a call, so the compiler does not narrow `aborted` across awaits. */
const isAborted = (s: AbortSignal) => s.aborted;

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Runs fn(0..count-1) with at most `concurrency` in flight; rejects on the first failure. */
export async function pool(count: number, concurrency: number, fn: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  let failed: Error | undefined;
  const worker = async () => {
    while (failed === undefined) {
      const i = next++;
      if (i >= count) return;
      try {
        await fn(i);
      } catch (err) {
        failed ??= err instanceof Error ? err : new Error(String(err));
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  if (failed !== undefined) throw failed;
}
