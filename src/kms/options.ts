/** Flags of `vaultsync kms`. */
import { parseDuration } from '../api/index.js';
import { LOG_FORMATS, type LogFormat } from '../log/index.js';
import type { AuthMethod } from './auth-sources.js';

export interface KmsOptions {
  socket: string;
  listen: { host: string; port: number };
  vaultAddress: string;
  vaultCaFile?: string;
  vaultNamespace?: string;
  transitMount: string;
  transitKey: string;
  auth: AuthMethod;
  tokenFile?: string;
  approle: { mount: string; roleIdFile?: string; secretIdFile?: string };
  cert: { mount: string; role?: string };
  clientCertFile?: string;
  clientKeyFile?: string;
  timeoutMs: number;
  statusCacheMs: number;
  statusFailCacheMs: number;
  logLevel: string;
  logFormat: LogFormat;
}

export class KmsUsageError extends Error {
  override readonly name = 'KmsUsageError';
}

export const KMS_HELP = `Usage: vaultsync kms --vault-address <url> --transit-key <name> --auth <method> [options]

Serves the Kubernetes KMS v2 API on a Unix socket for kube-apiserver's EncryptionConfiguration,
wrapping the apiserver's data-encryption keys with a Vault (or OpenBao) Transit key. See docs/kms.md.

  --socket <path>                 Unix socket to serve (default: /var/run/vaultsync-kms/kms.sock)
  --listen <host:port>            /metrics, /healthz, /readyz (default: 127.0.0.1:8095)
  --vault-address <url>           Vault address, e.g. https://vault.example.com:8200 (required)
  --vault-ca-file <file>          PEM bundle to trust for Vault's certificate (default: system roots)
  --vault-namespace <ns>          Vault Enterprise namespace
  --transit-mount <path>          Transit secrets engine mount (default: transit)
  --transit-key <name>            Transit key that wraps the DEKs (required)
  --auth <method>                 token-file, approle or cert (required)
  --token-file <file>             token-file: file holding a Vault token; renewed before it expires,
                                  re-read when a new one is needed (e.g. written by Vault Agent)
  --approle-mount <path>          approle: auth mount (default: approle)
  --approle-role-id-file <file>   approle: file holding the role_id
  --approle-secret-id-file <file> approle: file holding the secret_id
  --cert-mount <path>             cert: auth mount (default: cert)
  --cert-role <name>              cert: the certificate role to log in as (default: any that matches)
  --client-cert-file <file>       TLS client certificate (PEM) presented to Vault (required for cert)
  --client-key-file <file>        its private key (PEM)
  --timeout <duration>            Budget of one KMS call, Vault requests included (default: 2s); keep it
                                  below the EncryptionConfiguration's timeout (default 3s)
  --status-cache <duration>       Reuse a healthy Status answer this long (default: 10s)
  --status-fail-cache <duration>  Reuse a failed Status answer this long (default: 1s)
  --log-level <level>             debug, info, warn or error (default: info)
  --log-format <format>           json (one object a line: ISO-8601 time, level as a word) or text
                                  (<time> <LEVEL> <message> key=value…), as vaultsync run (default: json)
  --help                          This text
`;

const FLAGS = new Set([
  'socket',
  'listen',
  'vault-address',
  'vault-ca-file',
  'vault-namespace',
  'transit-mount',
  'transit-key',
  'auth',
  'token-file',
  'approle-mount',
  'approle-role-id-file',
  'approle-secret-id-file',
  'cert-mount',
  'cert-role',
  'client-cert-file',
  'client-key-file',
  'timeout',
  'status-cache',
  'status-fail-cache',
  'log-level',
  'log-format',
]);

/** Throws KmsUsageError with a one-line message. */
export function parseKmsArgs(argv: readonly string[]): KmsOptions {
  const f = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    if (!arg.startsWith('--')) throw new KmsUsageError(`unexpected argument "${arg}"`);
    const eq = arg.indexOf('=');
    const name = arg.slice(2, eq === -1 ? undefined : eq);
    if (!FLAGS.has(name)) throw new KmsUsageError(`unknown flag --${name}`);
    const value = eq === -1 ? argv[++i] : arg.slice(eq + 1);
    if (value === undefined || value === '') throw new KmsUsageError(`flag --${name} needs a value`);
    if (f.has(name)) throw new KmsUsageError(`flag --${name} given twice`);
    f.set(name, value);
  }
  const required = (name: string): string => {
    const v = f.get(name);
    if (v === undefined) throw new KmsUsageError(`--${name} is required`);
    return v;
  };

  const vaultAddress = required('vault-address');
  if (!/^https?:\/\/[^/?#]+\/?$/.test(vaultAddress)) {
    throw new KmsUsageError('--vault-address must be http(s)://host[:port] without a path');
  }
  const auth = required('auth');
  if (auth !== 'token-file' && auth !== 'approle' && auth !== 'cert') {
    throw new KmsUsageError(`--auth must be token-file, approle or cert, not "${auth}"`);
  }
  if (auth === 'token-file') required('token-file');
  if (auth === 'approle') {
    required('approle-role-id-file');
    required('approle-secret-id-file');
  }
  if (auth === 'cert') {
    required('client-cert-file');
    if (!vaultAddress.startsWith('https:')) throw new KmsUsageError('--auth=cert needs an https --vault-address');
  }
  if (f.has('client-cert-file') !== f.has('client-key-file')) {
    throw new KmsUsageError('--client-cert-file and --client-key-file go together');
  }
  const logLevel = f.get('log-level') ?? 'info';
  if (!['debug', 'info', 'warn', 'error'].includes(logLevel)) {
    throw new KmsUsageError(`--log-level must be debug, info, warn or error, not "${logLevel}"`);
  }
  const logFormat = f.get('log-format') ?? 'json';
  if (!(LOG_FORMATS as readonly string[]).includes(logFormat)) {
    throw new KmsUsageError(`--log-format must be json or text, not "${logFormat}"`);
  }
  const timeoutMs = duration(f, 'timeout', '2s');
  if (timeoutMs <= 0 || timeoutMs >= 30_000) throw new KmsUsageError('--timeout must be above 0 and under 30s');

  return {
    socket: f.get('socket') ?? '/var/run/vaultsync-kms/kms.sock',
    listen: hostPort(f.get('listen') ?? '127.0.0.1:8095'),
    vaultAddress: vaultAddress.replace(/\/$/, ''),
    vaultCaFile: f.get('vault-ca-file'),
    vaultNamespace: f.get('vault-namespace'),
    transitMount: mountOf(f.get('transit-mount') ?? 'transit', 'transit-mount'),
    transitKey: keyName(required('transit-key')),
    auth,
    tokenFile: f.get('token-file'),
    approle: {
      mount: mountOf(f.get('approle-mount') ?? 'approle', 'approle-mount'),
      roleIdFile: f.get('approle-role-id-file'),
      secretIdFile: f.get('approle-secret-id-file'),
    },
    cert: { mount: mountOf(f.get('cert-mount') ?? 'cert', 'cert-mount'), role: f.get('cert-role') },
    clientCertFile: f.get('client-cert-file'),
    clientKeyFile: f.get('client-key-file'),
    timeoutMs,
    statusCacheMs: duration(f, 'status-cache', '10s'),
    statusFailCacheMs: duration(f, 'status-fail-cache', '1s'),
    logLevel,
    logFormat: logFormat as LogFormat,
  };
}

function duration(f: Map<string, string>, name: string, fallback: string): number {
  const text = f.get(name) ?? fallback;
  try {
    return parseDuration(text);
  } catch {
    throw new KmsUsageError(`--${name}: "${text}" is not a duration like 10s`);
  }
}

function hostPort(text: string): { host: string; port: number } {
  const m = /^(.*):([0-9]{1,5})$/.exec(text);
  const port = Number(m?.[2]);
  if (m === null || port > 65535) throw new KmsUsageError(`--listen: "${text}" is not host:port`);
  return { host: m[1] === '' ? '0.0.0.0' : (m[1] ?? ''), port };
}

function mountOf(text: string, flag: string): string {
  const mount = text.replace(/^\/+|\/+$/g, '');
  const segments = mount.split('/');
  if (segments.some((s) => !/^[A-Za-z0-9_.-]+$/.test(s) || /^\.+$/.test(s)))
    throw new KmsUsageError(`--${flag}: "${text}" is not a mount path`);
  return mount;
}

function keyName(text: string): string {
  if (!/^[A-Za-z0-9_.-]+$/.test(text) || /^\.+$/.test(text))
    throw new KmsUsageError(`--transit-key: "${text}" is not a Transit key name`);
  return text;
}
