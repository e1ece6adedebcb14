/** A small JSON-over-HTTP(S) client for the harness: the apiserver (client certificate) and Vault. */
import { request as httpRequest } from 'node:http';
import { request as httpsRequest, type RequestOptions } from 'node:https';

export interface HttpResult<T = unknown> {
  status: number;
  body: T;
  text: string;
}

export interface Endpoint {
  url: string;
  tls?: { ca?: string; cert?: string; key?: string };
  headers?: Record<string, string>;
}

export function call<T = unknown>(
  ep: Endpoint,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<HttpResult<T>> {
  const url = new URL(path, ep.url);
  const payload = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
  const options: RequestOptions = {
    method,
    headers: {
      accept: 'application/json',
      ...(payload === undefined
        ? {}
        : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) }),
      ...ep.headers,
      ...headers,
    },
    ...(ep.tls ?? {}),
    timeout: 30_000,
  };
  const req = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const r = req(url, options, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let parsed: unknown = text;
        try {
          parsed = text === '' ? undefined : JSON.parse(text);
        } catch {
          parsed = text;
        }
        resolve({ status: res.statusCode ?? 0, body: parsed as T, text });
      });
      res.on('error', reject);
    });
    r.on('timeout', () => r.destroy(new Error(`${method} ${url.pathname}: timed out`)));
    r.on('error', reject);
    if (payload !== undefined) r.write(payload);
    r.end();
  });
}

/** Like call(), but throws unless the status is 2xx (or listed in `ok`). */
export async function must<T = unknown>(
  ep: Endpoint,
  method: string,
  path: string,
  body?: unknown,
  ok: number[] = [],
  headers: Record<string, string> = {},
): Promise<HttpResult<T>> {
  const res = await call<T>(ep, method, path, body, headers);
  if ((res.status < 200 || res.status >= 300) && !ok.includes(res.status)) {
    throw new Error(`${method} ${path}: HTTP ${res.status}: ${res.text.slice(0, 500)}`);
  }
  return res;
}

/** Thrown by a probe to stop waiting at once (e.g. the process being waited for has exited). */
export class Fatal extends Error {}

export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined | false>,
  timeoutMs = 30_000,
  everyMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      if (err instanceof Fatal) throw err;
      last = err;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}${last instanceof Error ? `: ${last.message}` : ''}`,
      );
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
