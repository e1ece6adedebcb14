/**
 * `vaultsync trigger`: signs a refresh request with the shared key and sends it, retrying
 * transient failures (no connection, timeout, 5xx, 429) briefly. The key is never printed.
 */
import { readFile } from 'node:fs/promises';
import { backoffCeiling } from '../scheduler/backoff.js';
import { parseRefreshBody } from '../server/refresh-request.js';
import { MIN_KEY_LENGTH } from '../server/keys.js';
import { SIGNATURE_HEADER, TIMESTAMP_HEADER, signRequest } from '../server/signature.js';
import { TRIGGER_ENV, TRIGGER_HELP, UsageError, parseTriggerArgs, type TriggerOptions } from './options.js';

export interface TriggerIo {
  stdout(s: string): void;
  stderr(s: string): void;
  readFile(path: string): Promise<string>;
  fetch: typeof fetch;
  sleep(ms: number): Promise<void>;
  /** Milliseconds since the epoch (the signature's timestamp). */
  now(): number;
  /** Environment variables (flags win over them): see TRIGGER_ENV. */
  env: Readonly<Record<string, string | undefined>>;
}

/** Longest wait honoured from a Retry-After header; the CI job should not hang on a busy server. */
const MAX_RETRY_AFTER_MS = 30_000;
const BACKOFF_BASE_MS = 500;
const BACKOFF_MAX_MS = 8_000;

type Attempt =
  | { kind: 'ok'; queued: number }
  | { kind: 'transient'; reason: string; retryAfterMs?: number }
  | { kind: 'fatal'; reason: string };

/** Runs the command; returns the exit code: 0 queued, 1 failed, 2 usage error. */
export async function runTrigger(
  argv: readonly string[],
  io: Pick<TriggerIo, 'stdout' | 'stderr'> & Partial<TriggerIo>,
): Promise<number> {
  const full: TriggerIo = {
    readFile: (p) => readFile(p, 'utf8'),
    fetch: (input, init) => fetch(input, init),
    sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
    now: () => Date.now(),
    env: {},
    ...io,
  };
  if (argv.includes('--help') || argv.includes('-h')) {
    full.stdout(TRIGGER_HELP);
    return 0;
  }
  let opts: TriggerOptions;
  let body: string;
  try {
    opts = parseTriggerArgs(argv, full.env);
    body = requestBody(opts);
  } catch (err) {
    if (err instanceof UsageError) {
      full.stderr(`vaultsync trigger: ${err.message} (see vaultsync trigger --help)\n`);
      return 2;
    }
    throw err;
  }

  let key: Buffer;
  const where = 'file' in opts.key ? `key file ${opts.key.file}` : `$${TRIGGER_ENV.key}`;
  try {
    key = parseKey('file' in opts.key ? await full.readFile(opts.key.file) : opts.key.env);
  } catch (err) {
    const why = err instanceof UsageError ? err.message : ((err as NodeJS.ErrnoException).code ?? 'unreadable');
    full.stderr(`vaultsync trigger: cannot use ${where}: ${why}\n`);
    return 1;
  }

  for (let attempt = 0; ; attempt++) {
    const result = await send(opts, key, body, full);
    if (result.kind === 'ok') {
      full.stdout(`queued ${result.queued} SecretSync(s)\n`);
      return 0;
    }
    if (result.kind === 'fatal' || attempt >= opts.retries) {
      full.stderr(`vaultsync trigger: ${result.reason}\n`);
      return 1;
    }
    const wait = Math.min(
      result.retryAfterMs ?? backoffCeiling(attempt, BACKOFF_BASE_MS, BACKOFF_MAX_MS),
      MAX_RETRY_AFTER_MS,
    );
    full.stderr(`vaultsync trigger: ${result.reason}; retrying in ${(wait / 1000).toFixed(1)}s\n`);
    await full.sleep(wait);
  }
}

/** The JSON body, checked with the server's own rules so a mistake is a usage error here. */
function requestBody(opts: TriggerOptions): string {
  const fields: { paths?: string[]; secretSyncs?: string[] } = {};
  if (opts.paths.length > 0) fields.paths = opts.paths;
  if (opts.secretSyncs.length > 0) fields.secretSyncs = opts.secretSyncs;
  const body = JSON.stringify(fields);
  const parsed = parseRefreshBody(Buffer.from(body));
  if (!parsed.ok) {
    throw new UsageError(parsed.message.replace(/^paths\[/, '--path[').replace(/^secretSyncs\[/, '--secret-sync['));
  }
  return body;
}

function parseKey(text: string): Buffer {
  const line = text
    .split('\n')
    .map((l) => l.trim())
    .find((l) => l !== '');
  if (line === undefined) throw new UsageError('it is empty');
  if (Buffer.byteLength(line, 'utf8') < MIN_KEY_LENGTH)
    throw new UsageError(`the key is shorter than ${MIN_KEY_LENGTH} bytes (openssl rand -hex 32 makes one)`);
  return Buffer.from(line, 'utf8');
}

async function send(opts: TriggerOptions, key: Buffer, body: string, io: TriggerIo): Promise<Attempt> {
  // Signed afresh for each attempt: a retry must not carry a stale timestamp.
  const timestamp = String(Math.floor(io.now() / 1000));
  const where = `${opts.endpoint.origin}${opts.endpoint.pathname}`;
  let res: Response;
  try {
    res = await io.fetch(opts.endpoint, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        [TIMESTAMP_HEADER]: timestamp,
        [SIGNATURE_HEADER]: signRequest(key, timestamp, body),
      },
      body,
      signal: AbortSignal.timeout(opts.timeoutMs),
    });
  } catch (err) {
    return { kind: 'transient', reason: `no answer from ${where}: ${networkReason(err, opts.timeoutMs)}` };
  }
  const message = await serverMessage(res);
  const status = res.status;
  if (status === 202) {
    const queued = (message.json as { queued?: unknown } | undefined)?.queued;
    if (typeof queued === 'number') return { kind: 'ok', queued };
    return { kind: 'fatal', reason: `unexpected answer from ${where} (202 without a count)` };
  }
  const said = message.error ? `: ${message.error}` : '';
  if (status === 429) {
    return { kind: 'transient', reason: `rate limited (429)${said}`, retryAfterMs: retryAfter(res) };
  }
  if (status >= 500) return { kind: 'transient', reason: `server error (${status})${said}` };
  const hint: Record<number, string> = {
    400: 'the server refused the request',
    401: "the signature was refused: check the key and this machine's clock",
    403: 'the key may not refresh a SecretSync named (it belongs to another namespace)',
    404: `no webhook at ${where}: is a key configured on the server (--webhook-key-file)?`,
    413: 'the request is too large',
  };
  return { kind: 'fatal', reason: `${hint[status] ?? 'unexpected answer'} (${status})${said}` };
}

async function serverMessage(res: Response): Promise<{ json?: unknown; error?: string }> {
  const text = await res.text().catch((err: unknown) => `(body unreadable: ${networkReason(err, 0)})`);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return {};
  }
  const error = (json as { error?: unknown } | null)?.error;
  // The server's words, bounded and on one line: never let it write arbitrary text into CI logs.
  return { json, error: typeof error === 'string' ? error.replace(/[^\x20-\x7e]/g, ' ').slice(0, 200) : undefined };
}

function retryAfter(res: Response): number | undefined {
  const v = res.headers.get('retry-after');
  if (v === null || !/^[0-9]+$/.test(v.trim())) return undefined;
  return Number(v.trim()) * 1000;
}

function networkReason(err: unknown, timeoutMs: number): string {
  if (err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError')) {
    return `timed out after ${timeoutMs / 1000}s`;
  }
  const cause = err instanceof Error ? (err.cause as NodeJS.ErrnoException | undefined) : undefined;
  return cause?.code ?? (err instanceof Error ? err.message : 'failed');
}
