/**
 * Where the API server is and how to authenticate to it: a kubeconfig file or the in-cluster
 * ServiceAccount, loaded without @kubernetes/client-node (whose index loads all 867 of its modules,
 * ~90 MiB of RSS: docs/benchmarks.md, issue 14). What is supported is what a controller needs; any
 * other credential mechanism is refused at startup by name instead of being silently ignored.
 *
 * Files (token, certificates) are read again when older than FILE_REREAD_MS, so projected
 * ServiceAccount tokens and rotated client certificates are picked up without a restart.
 */
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, isAbsolute, join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { asRecord } from '../core/json.js';

/** client-go re-reads its token file on the same period. */
export const FILE_REREAD_MS = 60_000;

export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

/** What one request needs: TLS material and the Authorization header (never logged). */
export interface KubeCredentials {
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  rejectUnauthorized: boolean;
  servername?: string;
  authorization?: string;
}

/** A value given inline (…-data, token) or as a file read again as it rotates. */
type Material = { data: Buffer } | { file: string };

export interface RestConfigParts {
  server: string;
  /** For logs: the context's name, or `in-cluster`. */
  context: string;
  ca?: Material | undefined;
  cert?: Material | undefined;
  key?: Material | undefined;
  token?: Material | undefined;
  insecure?: boolean | undefined;
  servername?: string | undefined;
}

/** The API server and the credentials for it, as every request of the plain client (http.ts) uses them. */
export class RestConfig {
  readonly server: string;
  readonly context: string;
  readonly tokenFile: string | undefined;
  private readonly files = new Map<string, { value: Buffer; readAt: number }>();

  constructor(
    private readonly parts: RestConfigParts,
    private readonly now: () => number = Date.now,
  ) {
    let url: URL;
    try {
      url = new URL(parts.server);
    } catch {
      throw new Error(`kubeconfig context ${parts.context}: server "${parts.server}" is not a URL`);
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') {
      throw new Error(`kubeconfig context ${parts.context}: server ${parts.server} is neither https nor http`);
    }
    this.server = parts.server;
    this.context = parts.context;
    this.tokenFile = parts.token !== undefined && 'file' in parts.token ? parts.token.file : undefined;
  }

  /** For tests and tools: a server and a static token (or none). */
  static fromServer(server: string, opts: { token?: string; insecure?: boolean } = {}): RestConfig {
    return new RestConfig({
      server,
      context: 'given',
      insecure: opts.insecure,
      token: opts.token === undefined ? undefined : { data: Buffer.from(opts.token) },
    });
  }

  /** Replaces the credentials with the bearer token in `file` (no client certificate: the API server would prefer it). */
  withTokenFile(file: string): RestConfig {
    return new RestConfig({ ...this.parts, cert: undefined, key: undefined, token: { file } }, this.now);
  }

  async credentials(): Promise<KubeCredentials> {
    const { ca, cert, key, token, insecure, servername } = this.parts;
    const out: KubeCredentials = { rejectUnauthorized: insecure !== true };
    if (ca !== undefined) out.ca = await this.material(ca);
    if (cert !== undefined) out.cert = await this.material(cert);
    if (key !== undefined) out.key = await this.material(key);
    if (servername !== undefined) out.servername = servername;
    if (token !== undefined) {
      const value = (await this.material(token)).toString('utf8').trim();
      if (value === '') throw new Error(`token file ${this.tokenFile ?? '(inline)'} is empty`);
      out.authorization = `Bearer ${value}`;
    }
    return out;
  }

  private async material(m: Material): Promise<Buffer> {
    if ('data' in m) return m.data;
    const cached = this.files.get(m.file);
    const now = this.now();
    if (cached !== undefined && now - cached.readAt < FILE_REREAD_MS) return cached.value;
    const value = await readFile(m.file);
    this.files.set(m.file, { value, readAt: now });
    return value;
  }
}

/**
 * The in-cluster configuration: the API server from KUBERNETES_SERVICE_HOST/PORT (set by the
 * kubelet in every pod), the ServiceAccount's CA and its token, re-read as the kubelet rotates it.
 */
export function loadInCluster(
  env: Readonly<Record<string, string | undefined>>,
  dir: string = SERVICE_ACCOUNT_DIR,
): RestConfig {
  const host = env.KUBERNETES_SERVICE_HOST;
  const port = env.KUBERNETES_SERVICE_PORT;
  if (host === undefined || host === '' || port === undefined || port === '') {
    throw new Error(
      'not running in a cluster (KUBERNETES_SERVICE_HOST/KUBERNETES_SERVICE_PORT unset): pass --kubeconfig or set KUBECONFIG',
    );
  }
  const token = join(dir, 'token');
  // Fail at startup, not on the first request, when the pod has no ServiceAccount token mounted.
  readFileSync(token);
  return new RestConfig({
    server: `https://${host.includes(':') ? `[${host}]` : host}:${port}`,
    context: 'in-cluster',
    ca: { file: join(dir, 'ca.crt') },
    token: { file: token },
  });
}

/** Fields of a kubeconfig that would change how to connect or authenticate and that vaultsync does not implement. */
const UNSUPPORTED_USER = [
  'exec',
  'auth-provider',
  'username',
  'password',
  'as',
  'as-uid',
  'as-groups',
  'as-user-extra',
];
const UNSUPPORTED_CLUSTER = ['proxy-url'];

/**
 * A kubeconfig file: `context` (default: its current-context), that context's cluster (server,
 * certificate-authority[-data], insecure-skip-tls-verify, tls-server-name) and user (token,
 * tokenFile, client-certificate[-data] with client-key[-data]). Relative file paths are relative to
 * the kubeconfig's directory, as for kubectl. Exec and auth-provider plugins, basic auth,
 * impersonation and proxies are refused with the field named.
 */
export function loadKubeconfig(path: string, context?: string, now: () => number = Date.now): RestConfig {
  let doc: unknown;
  try {
    doc = parseYaml(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new Error(`cannot read kubeconfig ${path}: ${err instanceof Error ? err.message : 'failed'}`, {
      cause: err,
    });
  }
  const root = asRecord(doc);
  if (root === undefined) throw new Error(`kubeconfig ${path} is not a YAML mapping`);
  const where = `kubeconfig ${path}`;
  const contextName = context ?? str(root['current-context']);
  if (contextName === undefined || contextName === '') {
    throw new Error(`${where} has no current-context: pass --context`);
  }
  const ctx = named(root.contexts, 'context', contextName, `${where}: context`);
  const clusterName = str(ctx.cluster);
  if (clusterName === undefined) throw new Error(`${where}: context ${contextName} names no cluster`);
  const cluster = named(root.clusters, 'cluster', clusterName, `${where}: cluster`);
  const userName = str(ctx.user);
  const user = userName === undefined || userName === '' ? {} : named(root.users, 'user', userName, `${where}: user`);
  for (const field of UNSUPPORTED_USER) {
    if (user[field] !== undefined) {
      throw new Error(
        `${where}: user ${userName ?? ''} uses ${field}, which vaultsync does not support: use a token, tokenFile or a client certificate`,
      );
    }
  }
  for (const field of UNSUPPORTED_CLUSTER) {
    if (cluster[field] !== undefined) {
      throw new Error(`${where}: cluster ${clusterName} sets ${field}, which vaultsync does not support`);
    }
  }
  const server = str(cluster.server);
  if (server === undefined || server === '') throw new Error(`${where}: cluster ${clusterName} has no server`);
  const base = dirname(path);
  const material = (dataField: string, fileField: string, owner: Record<string, unknown>): Material | undefined => {
    const data = str(owner[dataField]);
    if (data !== undefined && data !== '') return { data: Buffer.from(data, 'base64') };
    const file = str(owner[fileField]);
    if (file !== undefined && file !== '') return { file: isAbsolute(file) ? file : join(base, file) };
    return undefined;
  };
  const token = str(user.token);
  const tokenFile = str(user.tokenFile) ?? str(user['token-file']);
  const cert = material('client-certificate-data', 'client-certificate', user);
  const key = material('client-key-data', 'client-key', user);
  if ((cert === undefined) !== (key === undefined)) {
    throw new Error(`${where}: user ${userName ?? ''} has a client certificate or key without the other`);
  }
  const insecure = cluster['insecure-skip-tls-verify'];
  const useTokenFile = token === undefined && tokenFile !== undefined && tokenFile !== '';
  return new RestConfig(
    {
      server,
      context: contextName,
      ca: material('certificate-authority-data', 'certificate-authority', cluster),
      // A kubeconfig tokenFile replaces the client certificate, as --token-file does (see withTokenFile).
      cert: useTokenFile ? undefined : cert,
      key: useTokenFile ? undefined : key,
      token:
        token !== undefined && token !== ''
          ? { data: Buffer.from(token) }
          : useTokenFile
            ? { file: isAbsolute(tokenFile) ? tokenFile : join(base, tokenFile) }
            : undefined,
      insecure: insecure === true || insecure === 'true',
      servername: str(cluster['tls-server-name']),
    },
    now,
  );
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

/** The `field` mapping of the list entry called `name` (kubeconfig's named-list shape). */
function named(list: unknown, field: string, name: string, what: string): Record<string, unknown> {
  const entry = Array.isArray(list) ? list.map(asRecord).find((e) => e?.name === name) : undefined;
  if (entry === undefined) throw new Error(`${what} ${name} not found`);
  return asRecord(entry[field]) ?? {};
}
