/** Flags of `vaultsync trigger`. */
import { parseDuration } from '../api/index.js';

export interface TriggerOptions {
  /** POST target: <url>/v1/refresh (the URL itself if it already ends in /v1/refresh). */
  endpoint: URL;
  /** Where the key comes from: a file (--key-file, $VAULTSYNC_WEBHOOK_KEY_FILE) or $VAULTSYNC_WEBHOOK_KEY. */
  key: { file: string } | { env: string };
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

Environment (a flag wins over its variable; CI secrets usually arrive as variables):
  VAULTSYNC_WEBHOOK_URL             --url
  VAULTSYNC_WEBHOOK_KEY             the key itself (not a file; never give a key as a flag)
  VAULTSYNC_WEBHOOK_KEY_FILE        --key-file (used when VAULTSYNC_WEBHOOK_KEY is not set)
  VAULTSYNC_TRIGGER_PATHS           --path, comma-separated
  VAULTSYNC_TRIGGER_SECRET_SYNCS    --secret-sync, comma-separated
  VAULTSYNC_TRIGGER_TIMEOUT         --timeout
  VAULTSYNC_TRIGGER_RETRIES         --retries

Prints "queued N SecretSync(s)" and exits 0; exits 1 on failure, 2 on a usage error.
`;

/** The environment variable of each flag. */
export const TRIGGER_ENV = {
  url: 'VAULTSYNC_WEBHOOK_URL',
  key: 'VAULTSYNC_WEBHOOK_KEY',
  'key-file': 'VAULTSYNC_WEBHOOK_KEY_FILE',
  path: 'VAULTSYNC_TRIGGER_PATHS',
  'secret-sync': 'VAULTSYNC_TRIGGER_SECRET_SYNCS',
  timeout: 'VAULTSYNC_TRIGGER_TIMEOUT',
  retries: 'VAULTSYNC_TRIGGER_RETRIES',
} as const;

type Env = Readonly<Record<string, string | undefined>>;

const REPEATABLE = new Set(['path', 'secret-sync']);
const SINGLE = new Set(['url', 'key-file', 'timeout', 'retries']);

/** Throws UsageError with a one-line message. */
export function parseTriggerArgs(argv: readonly string[], env: Env = {}): TriggerOptions {
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

  const fromEnv = (flag: keyof typeof TRIGGER_ENV) => {
    const v = env[TRIGGER_ENV[flag]]?.trim();
    return v === undefined || v === '' ? undefined : v;
  };
  for (const flag of ['url', 'timeout', 'retries'] as const) {
    const v = fromEnv(flag);
    if (!single.has(flag) && v !== undefined) single.set(flag, v);
  }
  const url = single.get('url');
  if (url === undefined) throw new UsageError(`--url (or $${TRIGGER_ENV.url}) is required`);
  const keyFile = single.get('key-file');
  const keyEnv = fromEnv('key');
  const keyFileEnv = fromEnv('key-file');
  const key =
    keyFile !== undefined
      ? { file: keyFile }
      : keyEnv !== undefined
        ? { env: keyEnv }
        : keyFileEnv !== undefined
          ? { file: keyFileEnv }
          : undefined;
  if (key === undefined) {
    throw new UsageError(`--key-file, $${TRIGGER_ENV.key} or $${TRIGGER_ENV['key-file']} is required`);
  }
  // The targets are one thing: any --path or --secret-sync replaces both variables.
  const flagTargets = (repeated.get('path') ?? []).length + (repeated.get('secret-sync') ?? []).length > 0;
  const listOf = (flag: 'path' | 'secret-sync') => {
    if (flagTargets) return repeated.get(flag) ?? [];
    return (fromEnv(flag) ?? '')
      .split(',')
      .map((x) => x.trim())
      .filter((x) => x !== '');
  };
  const paths = listOf('path');
  const secretSyncs = listOf('secret-sync');
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

  return { endpoint: endpointOf(url), key, paths, secretSyncs, timeoutMs, retries: Number(retries) };
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
