/**
 * Flags and environment, parsed once into a typed Config. `process.env` is read only here
 * (and only through the `env` argument main passes in). One table of options drives parsing,
 * `--help` and docs/configuration.md, so they cannot drift apart.
 */
import { isIP } from 'node:net';
import { hostname } from 'node:os';
import { parseDuration } from './api/index.js';
import { isBareOrigin, originOf } from './vault/address.js';
import { DEFAULT_GLOBAL_RATE_FACTOR } from './server/rate-limit.js';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export interface Config {
  /** Path of a kubeconfig; absent: in-cluster configuration. */
  kubeconfig?: string;
  kubeContext?: string;
  /** Replaces the kubeconfig user's credentials with this bearer token file (re-read when it changes). */
  kubeTokenFile?: string;
  /** Namespaces to watch; empty: all namespaces. */
  namespaces: string[];
  /** Namespace the controller runs in (hash-key Secret, leader-election Lease). */
  controllerNamespace: string;
  /** This replica's name ($POD_NAME, else the host name): events' reportingInstance, lease holder. */
  instance: string;
  vault: {
    address: string;
    /** PEM contents of --vault-ca-file, read at start. */
    caBundle?: string;
    vaultNamespace?: string;
    /** Default Kubernetes auth mount when a SecretSync names none. */
    authMount: string;
    requestTimeoutMs: number;
    /** How long a KV read is shared by SecretSyncs of one identity and path. */
    readCacheTtlMs: number;
    /** Vault requests per second and in flight, all kinds; logins have their own budget too. */
    requestsPerSecond: number;
    maxInFlight: number;
    loginsPerSecond: number;
    /** Origins (scheme://host[:port]) requests and redirects may go to: --vault-allowed-addresses
     *  plus --vault-address, which is always allowed. */
    allowedAddresses: string[];
    /** How long a replaced lease stays valid before it is revoked (--lease-revoke-grace). */
    leaseRevokeGraceMs: number;
  };
  auth: {
    /** Audiences of TokenRequests for SecretSync ServiceAccounts. */
    tokenAudiences: string[];
    /** Expiry asked of TokenRequest, seconds (the API server's minimum is 600). */
    tokenExpirationSeconds: number;
    /** The controller's own projected token, re-read at each login. */
    tokenPath: string;
    /** Whether a SecretSync without serviceAccountName may use the controller's own token. */
    allowControllerIdentity: boolean;
    /** The Vault role of the controller's own login; required with allowControllerIdentity. */
    controllerVaultRole?: string;
  };
  refresh: {
    defaultMs: number;
    minMs: number;
  };
  /** Reconciles running at once. */
  concurrency: number;
  /** API-server writes in flight and per second. */
  writeConcurrency: number;
  writeQps: number;
  /** Secret types a SecretSync may write besides the safe built-ins (SAFE_SECRET_TYPES). */
  allowedSecretTypes: string[];
  /** Every budget shared fairly: what one namespace may take of it (docs/scale.md). */
  tenancy: {
    /** Workers one namespace's SecretSyncs may hold at once; the rest are kept for other namespaces. */
    maxWorkersPerNamespace: number;
    /** Vault requests per second made for one namespace's SecretSyncs. */
    vaultQpsPerNamespace: number;
    /** API-server writes per second made for one namespace's SecretSyncs. */
    writeQpsPerNamespace: number;
    /** SecretSyncs of one namespace that are synced; the others get Ready=False. 0: no bound. */
    maxSecretSyncsPerNamespace: number;
  };
  /** Path of a file holding the key for content-hash HMACs; absent: a key kept in a Secret. */
  hashKeyFile?: string;
  /** Namespace/name of the Secret holding the content-hash key when no file is given. */
  hashKeySecret: { namespace: string; name: string };
  /** One active replica: a coordination.k8s.io/v1 Lease in controllerNamespace decides which. */
  leaderElection: {
    enabled: boolean;
    leaseName: string;
    /** How long a standby waits after the last observed renewal before taking the Lease over. */
    leaseDurationMs: number;
    /** The leader stops writing when it has not renewed for this long (below leaseDurationMs). */
    renewDeadlineMs: number;
    /** Pause between attempts to acquire or renew (below renewDeadlineMs). */
    retryPeriodMs: number;
    /** On shutdown, after releasing the Lease: keep serving (not ready; pushes forwarded) this long. */
    shutdownDrainMs: number;
  };
  /** host:port of the HTTP server (health, metrics, webhook). */
  listen: { host: string; port: number };
  metrics: {
    /** Series that name a SecretSync (namespace, name); off: only aggregates. */
    perSecretSync: boolean;
  };
  /** POST /v1/refresh (push refresh from CI). Disabled (404) unless a key file or keys directory is set. */
  webhook: {
    /** Global key(s), one per line: may refresh any SecretSync. */
    keyFile?: string;
    /** One key file per namespace, named after it: refreshes that namespace's SecretSyncs only. */
    namespaceKeysDir?: string;
    /** A separate server for the webhook; absent: served on `listen` with health and metrics. */
    listen?: { host: string; port: number };
    /** Requests per minute per client and per key. */
    rateLimitPerMinute: number;
    /** Requests per minute of all clients together; at least twice rateLimitPerMinute. */
    globalRateLimitPerMinute: number;
    /** Addresses and CIDRs of proxies whose X-Forwarded-For names the client; empty: the peer is the client. */
    trustedProxies: string[];
    /** A SecretSync pushed again this soon, while still queued, is not queued twice. */
    coalesceWindowMs: number;
    /**
     * host:port at which the other replicas reach this replica's webhook; the leader publishes it
     * on the Lease so that standbys forward pushes to it. Absent: standbys cannot reach this one.
     */
    peerAddress?: string;
    /** How long a standby waits for a reachable leader before queueing a push for its own takeover. */
    handoverWaitMs: number;
  };
  logLevel: LogLevel;
  /** json: one object a line (ISO time, level as a word), for log pipelines; text: for terminals. */
  logFormat: 'json' | 'text';
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

type Kind = 'string' | 'boolean' | 'duration' | 'integer' | 'list' | 'enum';

export interface OptionSpec {
  flag: string;
  env: string;
  kind: Kind;
  default?: string;
  choices?: readonly string[];
  required?: boolean;
  /** Smallest value of an integer option; default 1. */
  min?: number;
  help: string;
}

/** Every option of `vaultsync run`. Env vars are the flag in upper snake case with a VAULTSYNC_ prefix. */
const options: Omit<OptionSpec, 'env'>[] = [
  {
    flag: 'kubeconfig',
    kind: 'string',
    help: 'Path of a kubeconfig. Absent: in-cluster configuration (or $KUBECONFIG).',
  },
  { flag: 'kube-context', kind: 'string', help: 'Kubeconfig context to use.' },
  {
    flag: 'kube-token-file',
    kind: 'string',
    help: "Bearer token file used instead of the kubeconfig user's credentials.",
  },
  { flag: 'namespaces', kind: 'list', default: '', help: 'Comma-separated namespaces to watch. Empty: all.' },
  {
    flag: 'controller-namespace',
    kind: 'string',
    help: 'Namespace the controller runs in (hash-key Secret, leader Lease). Absent: $POD_NAMESPACE, else vaultsync.',
  },
  { flag: 'vault-address', kind: 'string', required: true, help: 'Vault address, e.g. https://vault.vault:8200.' },
  { flag: 'vault-ca-file', kind: 'string', help: "PEM CA bundle for Vault's TLS certificate." },
  { flag: 'vault-namespace', kind: 'string', help: 'Vault Enterprise namespace (X-Vault-Namespace).' },
  { flag: 'vault-auth-mount', kind: 'string', default: 'kubernetes', help: 'Default Kubernetes auth mount.' },
  { flag: 'vault-timeout', kind: 'duration', default: '10s', help: 'Timeout of one Vault request.' },
  {
    flag: 'vault-read-cache-ttl',
    kind: 'duration',
    default: '30s',
    help: 'How long one KV read is shared by SecretSyncs with the same identity and path.',
  },
  {
    flag: 'lease-revoke-grace',
    kind: 'duration',
    default: '2m',
    help: 'How long a database lease replaced by new credentials (max TTL near, source changed) stays valid before it is revoked, so consumers can switch.',
  },
  { flag: 'vault-qps', kind: 'integer', default: '50', help: 'Vault requests per second, all kinds.' },
  { flag: 'vault-max-in-flight', kind: 'integer', default: '16', help: 'Vault requests in flight at once.' },
  { flag: 'vault-login-qps', kind: 'integer', default: '5', help: 'Vault logins per second.' },
  {
    flag: 'vault-allowed-addresses',
    kind: 'list',
    default: '',
    help: "Comma-separated Vault addresses (scheme://host[:port]) besides --vault-address that a SecretSync may set in spec.vault.address and that Vault may redirect to (HA standbys redirect to the active node's api_addr). Empty: only --vault-address.",
  },
  {
    flag: 'token-audiences',
    kind: 'list',
    default: 'vault',
    help: 'Audiences of ServiceAccount tokens requested for Vault logins (what the Vault role expects); also the only audiences a SecretSync may ask for.',
  },
  {
    flag: 'token-expiration',
    kind: 'duration',
    default: '10m',
    help: 'Lifetime asked of TokenRequest tokens (at least 10m).',
  },
  {
    flag: 'token-path',
    kind: 'string',
    default: '/var/run/secrets/vaultsync/token',
    help: "The controller's own projected ServiceAccount token, re-read at each login.",
  },
  {
    flag: 'controller-vault-role',
    kind: 'string',
    help: "Vault role of the controller's own login (with --allow-controller-identity, required). Such a login always uses --vault-address, --vault-ca-file, --vault-namespace and --vault-auth-mount; a SecretSync cannot change them.",
  },
  {
    flag: 'allow-controller-identity',
    kind: 'boolean',
    default: 'false',
    help: "Let SecretSyncs without serviceAccountName log in with the controller's own token.",
  },
  { flag: 'refresh-default', kind: 'duration', default: '15m', help: 'Refresh interval when a SecretSync sets none.' },
  { flag: 'refresh-min', kind: 'duration', default: '30s', help: 'Shortest refresh interval honoured.' },
  { flag: 'concurrency', kind: 'integer', default: '8', help: 'Reconciles running at once.' },
  { flag: 'write-concurrency', kind: 'integer', default: '8', help: 'API-server writes in flight at once.' },
  { flag: 'write-qps', kind: 'integer', default: '50', help: 'API-server writes per second.' },
  {
    flag: 'allowed-secret-types',
    kind: 'list',
    default: '',
    help: 'Custom Secret types SecretSyncs may write besides Opaque, kubernetes.io/tls, kubernetes.io/dockerconfigjson, kubernetes.io/basic-auth and kubernetes.io/ssh-auth (types in the kubernetes.io/ and k8s.io/ prefixes are refused at admission).',
  },
  {
    flag: 'namespace-max-workers',
    kind: 'integer',
    default: '0',
    min: 0,
    help: "Workers (of --concurrency) one namespace's SecretSyncs may hold at once, so a namespace whose Vault hangs cannot hold them all. 0: half of --concurrency (at least 1).",
  },
  {
    flag: 'namespace-vault-qps',
    kind: 'integer',
    default: '0',
    min: 0,
    help: "Vault requests per second for one namespace's SecretSyncs. 0: half of --vault-qps (at least 1).",
  },
  {
    flag: 'namespace-write-qps',
    kind: 'integer',
    default: '0',
    min: 0,
    help: "API-server writes per second for one namespace's SecretSyncs. 0: half of --write-qps (at least 1).",
  },
  {
    flag: 'namespace-max-secretsyncs',
    kind: 'integer',
    default: '0',
    min: 0,
    help: 'SecretSyncs synced per namespace; the ones over it (newest first) get Ready=False TooManySecretSyncs. 0: no bound.',
  },
  {
    flag: 'hash-key-file',
    kind: 'string',
    help: 'File with the HMAC key for content hashes. Absent: kept in a Secret.',
  },
  {
    flag: 'hash-key-secret',
    kind: 'string',
    default: 'vaultsync-hash-key',
    help: 'Name of the Secret in the controller namespace that keeps the HMAC key.',
  },
  {
    flag: 'leader-elect',
    kind: 'boolean',
    default: 'false',
    help: 'Run leader election on a Lease in the controller namespace: one replica writes, the others wait. The Helm chart turns it on.',
  },
  {
    flag: 'leader-election-lease-name',
    kind: 'string',
    default: 'vaultsync-leader',
    help: 'Name of the leader-election Lease in the controller namespace.',
  },
  {
    flag: 'leader-election-lease-duration',
    kind: 'duration',
    default: '15s',
    help: 'How long a standby waits after the last renewal it saw before taking the Lease over (whole seconds).',
  },
  {
    flag: 'leader-election-renew-deadline',
    kind: 'duration',
    default: '10s',
    help: 'The leader stops writing when it could not renew the Lease for this long; below the lease duration.',
  },
  {
    flag: 'leader-election-retry-period',
    kind: 'duration',
    default: '2s',
    help: 'Pause between attempts to acquire or renew the Lease; below the renew deadline.',
  },
  {
    flag: 'shutdown-drain',
    kind: 'duration',
    default: '3s',
    help: 'With --leader-elect, on SIGTERM: after handing the Lease over, keep serving this long (/readyz answers 503; pushes are forwarded to the new leader) before closing, so the Service stops sending requests here first. Below terminationGracePeriodSeconds.',
  },
  {
    flag: 'listen',
    kind: 'string',
    default: '0.0.0.0:8080',
    help: 'host:port of the health and metrics server (and of the webhook unless --webhook-listen is set).',
  },
  {
    flag: 'metrics-per-secretsync',
    kind: 'boolean',
    default: 'false',
    help: 'Export series per SecretSync (labels namespace and name) in /metrics: vaultsync_secretsync_ready (1/0) and vaultsync_secretsync_last_success_timestamp_seconds, two series per SecretSync on every replica (20 000 at 10 000 SecretSyncs: size Prometheus for it). Off: no metric names a SecretSync; vaultsync_secretsyncs and vaultsync_secretsync_oldest_success_age_seconds are the aggregates.',
  },
  {
    flag: 'webhook-listen',
    kind: 'string',
    default: '',
    help: 'host:port of a separate server for the refresh webhook (POST /v1/refresh). Empty: served on --listen.',
  },
  {
    flag: 'webhook-key-file',
    kind: 'string',
    help: 'File with the webhook key(s), one per line, at least 32 bytes (openssl rand -hex 32); may refresh any SecretSync. Re-read when it changes. Without this or --webhook-namespace-keys-dir the webhook is off (404).',
  },
  {
    flag: 'webhook-namespace-keys-dir',
    kind: 'string',
    help: 'Directory of per-namespace webhook keys: one file per namespace, named after it (a mounted Secret). Such a key refreshes only its namespace.',
  },
  {
    flag: 'webhook-rate-limit',
    kind: 'integer',
    default: '60',
    help: 'Webhook requests per minute per client and per key; beyond it 429.',
  },
  {
    flag: 'webhook-global-rate-limit',
    kind: 'integer',
    default: '0',
    min: 0,
    help: 'Webhook requests per minute of all clients together, counted only for requests within their own client limit; at least twice --webhook-rate-limit. 0: ten times --webhook-rate-limit.',
  },
  {
    flag: 'webhook-trusted-proxies',
    kind: 'list',
    default: '',
    help: 'Comma-separated addresses or CIDRs of proxies in front of the webhook. From such a peer the client (for the rate limit and the log) is the address X-Forwarded-For names before the trusted ones. Empty: the peer is the client.',
  },
  {
    flag: 'webhook-coalesce-window',
    kind: 'duration',
    default: '1s',
    help: 'A SecretSync pushed again within this window, while still queued, is not queued twice.',
  },
  {
    flag: 'webhook-peer-address',
    kind: 'string',
    default: '',
    help: "host:port at which the other replicas reach this replica's webhook. The leader publishes it on the Lease, and a standby forwards each signed push to it, so a push succeeds whichever replica the Service picks. Empty: $POD_IP with the webhook's port (--webhook-listen, else --listen); neither: a standby answers pushes with 503.",
  },
  {
    flag: 'webhook-handover-wait',
    kind: 'duration',
    default: '5s',
    help: "How long a standby holds a push while no leader answers (a handover); then it queues the push itself, to run when it takes the Lease. Keep it below callers' timeouts (vaultsync trigger: 10s).",
  },
  {
    flag: 'log-level',
    kind: 'enum',
    default: 'info',
    choices: ['debug', 'info', 'warn', 'error'],
    help: 'Log level.',
  },
  {
    flag: 'log-format',
    kind: 'enum',
    default: 'json',
    choices: ['json', 'text'],
    help: 'json: one JSON object a line with an ISO-8601 UTC "time" and "level" as a word (info, warn…), for log pipelines; text: "<time> <LEVEL> <message> key=value…" for people.',
  },
];

export const runOptions: readonly OptionSpec[] = options.map((o) => ({ ...o, env: envName(o.flag) }));

function envName(flag: string): string {
  return `VAULTSYNC_${flag.toUpperCase().replaceAll('-', '_')}`;
}

export type RawOptions = Record<string, string | undefined>;

/**
 * Merges flags over environment over defaults. `argv` are the arguments after `run`.
 * Throws ConfigError with a one-line message on an unknown flag or a bad value.
 */
export function collectOptions(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
  specs: readonly OptionSpec[] = runOptions,
): RawOptions {
  const byFlag = new Map(specs.map((s) => [s.flag, s]));
  const flags: RawOptions = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    if (!arg.startsWith('--')) throw new ConfigError(`unexpected argument "${arg}"`);
    const eq = arg.indexOf('=');
    const name = arg.slice(2, eq === -1 ? undefined : eq);
    const spec = byFlag.get(name) ?? (name.startsWith('no-') ? byFlag.get(name.slice(3)) : undefined);
    if (!spec) throw new ConfigError(`unknown flag --${name}`);
    if (spec.kind === 'boolean') {
      if (eq !== -1) flags[spec.flag] = arg.slice(eq + 1);
      else flags[spec.flag] = name.startsWith('no-') ? 'false' : 'true';
      continue;
    }
    let value: string | undefined;
    if (eq !== -1) value = arg.slice(eq + 1);
    else {
      value = argv[i + 1];
      i++;
    }
    if (value === undefined) throw new ConfigError(`flag --${name} needs a value`);
    flags[spec.flag] = value;
  }
  const out: RawOptions = {};
  for (const s of specs) out[s.flag] = flags[s.flag] ?? nonEmpty(env[s.env]) ?? s.default;
  return out;
}

const nonEmpty = (v: string | undefined) => (v === undefined || v === '' ? undefined : v);

function get(raw: RawOptions, flag: string): string | undefined {
  return raw[flag];
}

function str(raw: RawOptions, flag: string): string {
  const v = get(raw, flag);
  if (v === undefined || v === '') throw new ConfigError(`--${flag} is required`);
  return v;
}

function duration(raw: RawOptions, flag: string): number {
  const v = str(raw, flag);
  try {
    return parseDuration(v);
  } catch {
    throw new ConfigError(`--${flag}: "${v}" is not a duration like 30s, 15m or 1h`);
  }
}

function integer(raw: RawOptions, flag: string, min: number): number {
  const v = str(raw, flag);
  if (!/^[0-9]+$/.test(v) || Number(v) < min) throw new ConfigError(`--${flag}: "${v}" must be an integer ≥ ${min}`);
  return Number(v);
}

function bool(raw: RawOptions, flag: string): boolean {
  const v = str(raw, flag);
  if (v === 'true') return true;
  if (v === 'false') return false;
  throw new ConfigError(`--${flag}: "${v}" must be true or false`);
}

function list(raw: RawOptions, flag: string): string[] {
  return (get(raw, flag) ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

export interface ConfigIo {
  env: Readonly<Record<string, string | undefined>>;
  readFile: (path: string) => string;
}

/** Parses `vaultsync run` arguments into a Config. Throws ConfigError. */
export function parseConfig(argv: readonly string[], io: ConfigIo): Config {
  const raw = collectOptions(argv, io.env);

  const address = str(raw, 'vault-address');
  if (!/^https?:\/\/[^/]+/.test(address)) {
    throw new ConfigError(`--vault-address: "${address}" must be an http:// or https:// URL`);
  }
  const caFile = get(raw, 'vault-ca-file');
  let caBundle: string | undefined;
  if (caFile) {
    try {
      caBundle = io.readFile(caFile);
    } catch (err) {
      throw new ConfigError(
        `--vault-ca-file: cannot read ${caFile}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`,
      );
    }
    if (!caBundle.includes('-----BEGIN CERTIFICATE-----')) {
      throw new ConfigError(`--vault-ca-file: ${caFile} holds no PEM certificate`);
    }
  }

  const tokenExpirationSeconds = Math.round(duration(raw, 'token-expiration') / 1000);
  if (tokenExpirationSeconds < 600) throw new ConfigError('--token-expiration must be at least 10m');
  const refresh = { defaultMs: duration(raw, 'refresh-default'), minMs: duration(raw, 'refresh-min') };
  if (refresh.minMs < 1000) throw new ConfigError('--refresh-min must be at least 1s');
  if (refresh.defaultMs < refresh.minMs) throw new ConfigError('--refresh-default must not be below --refresh-min');

  const listen = hostPort(raw, 'listen');
  const webhook = parseWebhook(raw, listen, io.env);

  const logLevel = str(raw, 'log-level');
  if (!['debug', 'info', 'warn', 'error'].includes(logLevel)) {
    throw new ConfigError(`--log-level: "${logLevel}" must be one of debug, info, warn, error`);
  }
  const logFormat = str(raw, 'log-format');
  if (logFormat !== 'json' && logFormat !== 'text') {
    throw new ConfigError(`--log-format: "${logFormat}" must be json or text`);
  }
  const audiences = list(raw, 'token-audiences');
  if (audiences.length === 0) throw new ConfigError('--token-audiences needs at least one audience');

  const controllerNamespace = get(raw, 'controller-namespace') ?? nonEmpty(io.env.POD_NAMESPACE) ?? 'vaultsync';
  const leaderElection = parseLeaderElection(raw);

  return {
    kubeconfig: get(raw, 'kubeconfig') ?? nonEmpty(io.env.KUBECONFIG),
    kubeContext: get(raw, 'kube-context'),
    kubeTokenFile: get(raw, 'kube-token-file'),
    namespaces: list(raw, 'namespaces'),
    controllerNamespace,
    instance: nonEmpty(io.env.POD_NAME) ?? hostname(),
    vault: {
      address: address.replace(/\/+$/, ''),
      caBundle,
      vaultNamespace: get(raw, 'vault-namespace'),
      authMount: str(raw, 'vault-auth-mount'),
      requestTimeoutMs: duration(raw, 'vault-timeout'),
      readCacheTtlMs: duration(raw, 'vault-read-cache-ttl'),
      requestsPerSecond: integer(raw, 'vault-qps', 1),
      maxInFlight: integer(raw, 'vault-max-in-flight', 1),
      loginsPerSecond: integer(raw, 'vault-login-qps', 1),
      allowedAddresses: allowedAddresses(raw, address),
      leaseRevokeGraceMs: duration(raw, 'lease-revoke-grace'),
    },
    auth: {
      tokenAudiences: audiences,
      tokenExpirationSeconds,
      tokenPath: str(raw, 'token-path'),
      allowControllerIdentity: bool(raw, 'allow-controller-identity'),
      controllerVaultRole: controllerVaultRole(raw),
    },
    refresh,
    concurrency: integer(raw, 'concurrency', 1),
    writeConcurrency: integer(raw, 'write-concurrency', 1),
    writeQps: integer(raw, 'write-qps', 1),
    allowedSecretTypes: list(raw, 'allowed-secret-types'),
    tenancy: parseTenancy(raw),
    hashKeyFile: get(raw, 'hash-key-file'),
    hashKeySecret: { namespace: controllerNamespace, name: str(raw, 'hash-key-secret') },
    leaderElection,
    listen,
    metrics: { perSecretSync: bool(raw, 'metrics-per-secretsync') },
    webhook,
    logLevel: logLevel as LogLevel,
    logFormat,
  };
}

/** --vault-address and --vault-allowed-addresses as origins; each must be only scheme://host[:port]. */
function allowedAddresses(raw: RawOptions, address: string): string[] {
  const origins = new Set<string>();
  for (const [flag, value] of [
    ['vault-address', address] as const,
    ...list(raw, 'vault-allowed-addresses').map((a) => ['vault-allowed-addresses', a] as const),
  ]) {
    const origin = originOf(value);
    if (origin === undefined || (flag === 'vault-allowed-addresses' && !isBareOrigin(value))) {
      throw new ConfigError(
        `--${flag}: "${value}" must be an http:// or https:// address without a path, like https://vault:8200`,
      );
    }
    origins.add(origin);
  }
  return [...origins];
}

function controllerVaultRole(raw: RawOptions): string | undefined {
  const role = nonEmpty(get(raw, 'controller-vault-role'));
  if (role === undefined && bool(raw, 'allow-controller-identity')) {
    throw new ConfigError(
      "--allow-controller-identity needs --controller-vault-role: the controller's own login uses only the operator's settings",
    );
  }
  return role;
}

/** Per-namespace shares; 0 means half of the global budget, at least 1. */
function parseTenancy(raw: RawOptions): Config['tenancy'] {
  const share = (flag: string, global: string): number => {
    const own = integer(raw, flag, 0);
    const whole = integer(raw, global, 1);
    if (own > whole) throw new ConfigError(`--${flag}: ${own} is more than --${global} (${whole})`);
    return own > 0 ? own : Math.max(1, Math.ceil(whole / 2));
  };
  return {
    maxWorkersPerNamespace: share('namespace-max-workers', 'concurrency'),
    vaultQpsPerNamespace: share('namespace-vault-qps', 'vault-qps'),
    writeQpsPerNamespace: share('namespace-write-qps', 'write-qps'),
    maxSecretSyncsPerNamespace: integer(raw, 'namespace-max-secretsyncs', 0),
  };
}

function hostPort(raw: RawOptions, flag: string): { host: string; port: number } {
  const value = get(raw, flag) ?? '';
  const m = /^(.*):([0-9]{1,5})$/.exec(value);
  if (!m || Number(m[2]) > 65535) throw new ConfigError(`--${flag}: "${value}" must be host:port`);
  return { host: m[1] || '0.0.0.0', port: Number(m[2]) };
}

function parseWebhook(
  raw: RawOptions,
  listen: Config['listen'],
  env: Readonly<Record<string, string | undefined>>,
): Config['webhook'] {
  const own = nonEmpty(get(raw, 'webhook-listen')) === undefined ? undefined : hostPort(raw, 'webhook-listen');
  if (own && own.port === listen.port && own.port !== 0) {
    throw new ConfigError('--webhook-listen must use another port than --listen (leave it empty to share --listen)');
  }
  const rateLimitPerMinute = integer(raw, 'webhook-rate-limit', 1);
  const global = integer(raw, 'webhook-global-rate-limit', 0);
  // One client at its own limit must leave at least half of the global budget to the others.
  if (global > 0 && global < 2 * rateLimitPerMinute) {
    throw new ConfigError(
      `--webhook-global-rate-limit: ${global} must be at least twice --webhook-rate-limit (${rateLimitPerMinute}), so that one client cannot take it all`,
    );
  }
  const trustedProxies = list(raw, 'webhook-trusted-proxies');
  for (const p of trustedProxies) {
    if (!isAddressOrCidr(p)) {
      throw new ConfigError(`--webhook-trusted-proxies: "${p}" is not an IP address or CIDR (e.g. 10.0.0.0/8)`);
    }
  }
  return {
    keyFile: get(raw, 'webhook-key-file'),
    namespaceKeysDir: get(raw, 'webhook-namespace-keys-dir'),
    listen: own,
    rateLimitPerMinute,
    globalRateLimitPerMinute: global > 0 ? global : DEFAULT_GLOBAL_RATE_FACTOR * rateLimitPerMinute,
    trustedProxies,
    coalesceWindowMs: duration(raw, 'webhook-coalesce-window'),
    peerAddress: peerAddress(raw, (own ?? listen).port, env),
    handoverWaitMs: duration(raw, 'webhook-handover-wait'),
  };
}

/** --webhook-peer-address, else $POD_IP (the chart sets it from the downward API) with the webhook's port. */
function peerAddress(
  raw: RawOptions,
  port: number,
  env: Readonly<Record<string, string | undefined>>,
): string | undefined {
  const given = nonEmpty(get(raw, 'webhook-peer-address'));
  if (given !== undefined) {
    const m = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):([0-9]{1,5})$/.exec(given);
    if (!m || Number(m[2]) === 0 || Number(m[2]) > 65535) {
      throw new ConfigError(`--webhook-peer-address: "${given}" must be host:port (an IPv6 address in brackets)`);
    }
    return given;
  }
  const ip = nonEmpty(env.POD_IP);
  if (ip === undefined || port === 0) return undefined;
  if (isIP(ip) === 0) throw new ConfigError(`POD_IP: "${ip}" is not an IP address`);
  return isIP(ip) === 6 ? `[${ip}]:${port}` : `${ip}:${port}`;
}

function isAddressOrCidr(value: string): boolean {
  const [address = '', bits, ...rest] = value.split('/');
  const family = isIP(address);
  if (family === 0 || rest.length > 0) return false;
  if (bits === undefined) return true;
  return /^[0-9]{1,3}$/.test(bits) && Number(bits) <= (family === 4 ? 32 : 128);
}

function parseLeaderElection(raw: RawOptions): Config['leaderElection'] {
  const le = {
    enabled: bool(raw, 'leader-elect'),
    leaseName: str(raw, 'leader-election-lease-name'),
    leaseDurationMs: duration(raw, 'leader-election-lease-duration'),
    renewDeadlineMs: duration(raw, 'leader-election-renew-deadline'),
    retryPeriodMs: duration(raw, 'leader-election-retry-period'),
    shutdownDrainMs: duration(raw, 'shutdown-drain'),
  };
  if (le.leaseDurationMs < 1000 || le.leaseDurationMs % 1000 !== 0) {
    throw new ConfigError(
      '--leader-election-lease-duration must be whole seconds, at least 1s (the Lease keeps seconds)',
    );
  }
  if (le.renewDeadlineMs >= le.leaseDurationMs) {
    throw new ConfigError('--leader-election-renew-deadline must be below --leader-election-lease-duration');
  }
  if (le.retryPeriodMs <= 0 || le.retryPeriodMs >= le.renewDeadlineMs) {
    throw new ConfigError('--leader-election-retry-period must be above 0 and below --leader-election-renew-deadline');
  }
  return le;
}

/** `vaultsync run --help`, generated from the option table. */
export function runHelp(specs: readonly OptionSpec[] = runOptions): string {
  const lines = [
    'Usage: vaultsync run [options]',
    '',
    'Runs the controller. Every flag can also be set by its environment variable.',
    '',
  ];
  for (const s of specs) {
    const value =
      s.kind === 'boolean'
        ? ''
        : ` <${s.kind === 'list' ? 'a,b' : s.kind === 'enum' ? (s.choices ?? []).join('|') : s.kind}>`;
    const def = s.required
      ? ' (required)'
      : s.default !== undefined && s.default !== ''
        ? ` (default: ${s.default})`
        : '';
    lines.push(`  --${s.flag}${value}`, `      ${s.help}${def}  [$${s.env}]`);
  }
  return lines.join('\n') + '\n';
}
