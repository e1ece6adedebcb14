/** Flags of `vaultsync trigger`. */
import { parseDuration } from '../api/index.js';

export interface TriggerOptions {
  /** POST target: <url>/v1/refresh (the URL itself if it already ends in /v1/refresh). */
  endpoint: URL;
  keyFile: string;
  paths: string[];
  secretSyncs: string[];
  /** Per attempt. */
  timeoutMs: number;
  /** Attempts after the first, on transient failures. */
  retries: number;
}

export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export const TRIGGER_HELP = `Usage: vaultsync trigger --url <url> --key-file <file> --path <mount/path> [--secret-sync <ns/name>] [options]

Asks a running vaultsync to refresh, now, every SecretSync that reads the given Vault paths
(and the SecretSyncs named). Signs the request with the shared key; see docs/webhook.md.

  --url <url>               Base URL of the webhook, e.g. https://vaultsync.example.com (POSTs <url>/v1/refresh)
  --key-file <file>         File holding the webhook key (the first non-empty line is used)
  --path <mount/path>       Vault path including the mount, e.g. secret/myapp/config (repeatable)
  --secret-sync <ns/name>   A SecretSync to refresh (repeatable)
  --timeout <duration>      Timeout of one attempt (default: 10s)
  --retries <n>             Retries on connection errors, 5xx and 429, with backoff (default: 3)
  --help                    This text

Prints "queued N SecretSync(s)" and exits 0; exits 1 on failure, 2 on a usage error.
`;

const REPEATABLE = new Set(['path', 'secret-sync']);
const SINGLE = new Set(['url', 'key-file', 'timeout', 'retries']);

/** Throws UsageError with a one-line message. */
export function parseTriggerArgs(argv: readonly string[]): TriggerOptions {
  const single = new Map<string, string>();
  const repeated = new Map<string, string[]>([
    ['path', []],
    ['secret-sync', []],
  ]);
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    if (!arg.startsWith('--')) throw new UsageError(`unexpected argument "${arg}"`);
    const eq = arg.indexOf('=');
    const name = arg.slice(2, eq === -1 ? undefined : eq);
    if (!REPEATABLE.has(name) && !SINGLE.has(name)) throw new UsageError(`unknown flag --${name}`);
    const value = eq === -1 ? argv[++i] : arg.slice(eq + 1);
    if (value === undefined || value === '') throw new UsageError(`flag --${name} needs a value`);
    if (REPEATABLE.has(name)) repeated.get(name)?.push(value);
    else if (single.has(name)) throw new UsageError(`flag --${name} given twice`);
    else single.set(name, value);
  }

  const url = single.get('url');
  if (url === undefined) throw new UsageError('--url is required');
  const keyFile = single.get('key-file');
  if (keyFile === undefined) throw new UsageError('--key-file is required');
  const paths = repeated.get('path') ?? [];
  const secretSyncs = repeated.get('secret-sync') ?? [];
  if (paths.length + secretSyncs.length === 0) throw new UsageError('name at least one --path or --secret-sync');

  const timeout = single.get('timeout') ?? '10s';
  let timeoutMs: number;
  try {
    timeoutMs = parseDuration(timeout);
  } catch {
    throw new UsageError(`--timeout: "${timeout}" is not a duration like 10s`);
  }
  if (timeoutMs <= 0) throw new UsageError('--timeout must be above 0');
  const retries = single.get('retries') ?? '3';
  if (!/^[0-9]{1,2}$/.test(retries)) throw new UsageError(`--retries: "${retries}" must be an integer from 0 to 99`);

  return { endpoint: endpointOf(url), keyFile, paths, secretSyncs, timeoutMs, retries: Number(retries) };
}

function endpointOf(url: string): URL {
  let base: URL;
  try {
    base = new URL(url);
  } catch {
    throw new UsageError('--url must be an http:// or https:// URL');
  }
  if (base.protocol !== 'http:' && base.protocol !== 'https:') {
    throw new UsageError('--url must be an http:// or https:// URL');
  }
  if (base.search !== '' || base.hash !== '') throw new UsageError('--url must not have a query or fragment');
  if (base.pathname.replace(/\/+$/, '').endsWith('/v1/refresh')) return base;
  return new URL('v1/refresh', base.href.endsWith('/') ? base.href : `${base.href}/`);
}
