/**
 * The plugin's Vault transport: JSON over HTTP(S) with one keep-alive agent, an optional CA bundle
 * and client certificate (TLS-certificate login), a deadline per request from the caller's signal,
 * and a cap on answer size. Transit and login answers are a few hundred bytes.
 */
import http from 'node:http';
import https from 'node:https';
import { KmsError, scrub } from './errors.js';

/** Names the Vault call for metrics: never a path with a key name chosen by a user. */
export type VaultOp = 'encrypt' | 'decrypt' | 'login' | 'renew' | 'lookup';

export interface VaultCall {
  op: VaultOp;
  method: 'GET' | 'POST';
  /** Under /v1/, without a leading slash. */
  path: string;
  token?: string;
  body?: Record<string, unknown>;
  signal: AbortSignal;
}

/** Any HTTP answer; the caller decides what a status means. */
export interface VaultAnswer {
  status: number;
  body: unknown;
}

/** The narrow interface Transit and the token sources use; unit tests hand them a local server. */
export interface VaultTransport {
  send(call: VaultCall): Promise<VaultAnswer>;
}

export interface VaultHttpOptions {
  address: string;
  /** PEM bundle trusted for https addresses (default: the system's roots). */
  caPem?: string;
  /** Presented on every connection: the TLS-certificate auth method reads it at login. */
  clientCert?: { cert: string; key: string };
  /** Vault Enterprise namespace (X-Vault-Namespace). */
  namespace?: string;
  /** Told the outcome of every call: HTTP status, or "error" when none came. */
  observe?: (op: VaultOp, outcome: string, seconds: number) => void;
}

export const MAX_ANSWER_BYTES = 64 * 1024;

export class VaultHttp implements VaultTransport {
  readonly address: string;
  readonly #agent: http.Agent;
  readonly #opts: VaultHttpOptions;

  constructor(opts: VaultHttpOptions) {
    this.address = opts.address.replace(/\/+$/, '');
    this.#opts = opts;
    this.#agent = this.address.startsWith('https:')
      ? new https.Agent({
          keepAlive: true,
          ...(opts.caPem === undefined ? {} : { ca: opts.caPem }),
          ...(opts.clientCert ?? {}),
        })
      : new http.Agent({ keepAlive: true });
  }

  async send(call: VaultCall): Promise<VaultAnswer> {
    const t0 = performance.now();
    try {
      const answer = await this.#request(call);
      this.#opts.observe?.(call.op, String(answer.status), (performance.now() - t0) / 1000);
      return answer;
    } catch (err) {
      this.#opts.observe?.(call.op, 'error', (performance.now() - t0) / 1000);
      throw err;
    }
  }

  #request(call: VaultCall): Promise<VaultAnswer> {
    const payload = call.body === undefined ? undefined : JSON.stringify(call.body);
    const headers: Record<string, string> = { accept: 'application/json' };
    if (payload !== undefined) headers['content-type'] = 'application/json';
    if (call.token !== undefined) headers['x-vault-token'] = call.token;
    if (this.#opts.namespace !== undefined) headers['x-vault-namespace'] = this.#opts.namespace;
    const url = new URL(`${this.address}/v1/${call.path}`);
    const request = url.protocol === 'https:' ? https.request : http.request;
    return new Promise<VaultAnswer>((resolve, reject) => {
      if (call.signal.aborted) {
        reject(deadline(call.op));
        return;
      }
      const req = request(url, { method: call.method, headers, agent: this.#agent }, (res) => {
        const chunks: Buffer[] = [];
        let bytes = 0;
        res.on('data', (chunk: Buffer) => {
          bytes += chunk.length;
          if (bytes > MAX_ANSWER_BYTES) {
            req.destroy(
              new KmsError('BadVaultAnswer', `Vault's answer to ${call.op} is over ${MAX_ANSWER_BYTES} bytes`),
            );
            return;
          }
          chunks.push(chunk);
        });
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let body: unknown = undefined;
          try {
            body = text === '' ? undefined : JSON.parse(text);
          } catch {
            body = undefined; // not JSON: the caller sees a status with no usable body
          }
          resolve({ status: res.statusCode ?? 0, body });
        });
        res.on('error', (err) => reject(transportError(call.op, this.address, err)));
      });
      const onAbort = () => req.destroy(deadline(call.op));
      call.signal.addEventListener('abort', onAbort, { once: true });
      req.on('close', () => call.signal.removeEventListener('abort', onAbort));
      req.on('error', (err) => reject(transportError(call.op, this.address, err)));
      req.end(payload);
    });
  }

  close(): void {
    this.#agent.destroy();
  }
}

function deadline(op: VaultOp): KmsError {
  return new KmsError('DeadlineExceeded', `Vault ${op} did not answer before the deadline`);
}

function transportError(op: VaultOp, address: string, err: unknown): KmsError {
  if (err instanceof KmsError) return err;
  const code = (err as { code?: unknown }).code;
  return new KmsError(
    'VaultUnavailable',
    `Vault at ${address} did not answer ${op}: ${typeof code === 'string' ? code : 'connection failed'}`,
  );
}

/** Vault's `errors` array, scrubbed and joined, for messages. */
export function vaultErrors(body: unknown): string {
  const errors = (body as { errors?: unknown } | undefined)?.errors;
  if (!Array.isArray(errors) || errors.length === 0) return 'no error message';
  return scrub(errors.filter((e): e is string => typeof e === 'string').join('; '));
}

/** The KmsError for a non-2xx answer that is not handled specially by the caller. */
export function statusError(op: VaultOp, answer: VaultAnswer): KmsError {
  const why = vaultErrors(answer.body);
  if (answer.status === 403) return new KmsError('VaultForbidden', `Vault denied ${op} (HTTP 403): ${why}`);
  if (answer.status === 429 || answer.status >= 500) {
    return new KmsError('VaultUnavailable', `Vault failed ${op} (HTTP ${answer.status}): ${why}`);
  }
  return new KmsError('BadVaultAnswer', `Vault refused ${op} (HTTP ${answer.status}): ${why}`);
}
