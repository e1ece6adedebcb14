import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { readFile } from 'node:fs/promises';
import type { OutgoingHttpHeaders } from 'node:http';
import type https from 'node:https';
import { CoordinationV1Api, CoreV1Api, CustomObjectsApi, KubeConfig, type User } from '@kubernetes/client-node';
import type { Logger } from '../core/types.js';
import { KubeJsonClient } from './http.js';

/** The KubeConfig and the typed API clients built from it; created once in main.ts. */
export interface Kube {
  kc: KubeConfig;
  core: CoreV1Api;
  custom: CustomObjectsApi;
  coordination: CoordinationV1Api;
  /** Plain JSON over keep-alive HTTP for the hot calls (Secrets, status, list pages): see http.ts. */
  http: KubeJsonClient;
}

export interface CreateKubeOptions {
  /** Path of a kubeconfig; absent: in-cluster configuration (loadFromCluster). */
  kubeconfig?: string | undefined;
  /** Context of the kubeconfig to use; absent: its current context. */
  context?: string | undefined;
  /** A file holding a bearer token that replaces the user's credentials (re-read as it rotates). */
  tokenFile?: string | undefined;
  log: Logger;
}

export function createKube(opts: CreateKubeOptions): Kube {
  const kc = new KubeConfig();
  if (opts.kubeconfig === undefined) {
    kc.loadFromCluster();
  } else {
    kc.loadFromFile(opts.kubeconfig);
  }
  if (opts.context !== undefined) kc.setCurrentContext(opts.context);
  // client-node reads only `token-file`; kubectl's kubeconfig field is `tokenFile`. Honour it, re-read as it rotates.
  const tokenFile =
    opts.tokenFile ?? (opts.kubeconfig === undefined ? undefined : kubeconfigTokenFile(kc, opts.kubeconfig));
  if (tokenFile !== undefined) useTokenFile(kc, tokenFile);
  const server = kc.getCurrentCluster()?.server;
  if (server === undefined) throw new Error(`kubeconfig context ${kc.getCurrentContext()} names no cluster`);
  opts.log.info(
    {
      server,
      context: kc.getCurrentContext(),
      source: opts.kubeconfig ?? 'in-cluster',
      tokenFile,
    },
    'kubernetes client configured',
  );
  return kubeClients(kc);
}

/** The current user's `tokenFile` in a kubeconfig file, which client-node itself ignores. */
export function kubeconfigTokenFile(kc: KubeConfig, path: string): string | undefined {
  const user = kc.getCurrentUser();
  if (user === null || user.token !== undefined) return undefined;
  const doc = parseYaml(readFileSync(path, 'utf8')) as {
    users?: { name?: string; user?: { tokenFile?: unknown } }[];
  } | null;
  const file = doc?.users?.find((u) => u.name === user.name)?.user?.tokenFile;
  return typeof file === 'string' && file !== '' ? file : undefined;
}

/** Typed clients for an already loaded KubeConfig (tests build one with loadFromOptions). */
export function kubeClients(kc: KubeConfig): Kube {
  shareConnections(kc);
  return {
    kc,
    core: kc.makeApiClient(CoreV1Api),
    custom: kc.makeApiClient(CustomObjectsApi),
    coordination: kc.makeApiClient(CoordinationV1Api),
    http: new KubeJsonClient(kc),
  };
}

/** client-node does not export its Authenticator interface from the package root. */
type Authenticator = Parameters<KubeConfig['addAuthenticator']>[0];

const TOKEN_FILE_USER = 'vaultsync-token-file';
/** Projected tokens rotate; client-go re-reads its token file on the same period. */
const TOKEN_REREAD_MS = 60_000;

/**
 * Makes every request authenticate with the bearer token in `tokenFile` instead of the current
 * user's credentials. The new user carries no client certificate: the API server would prefer a
 * certificate over the token and the override would silently not apply.
 */
export function useTokenFile(kc: KubeConfig, tokenFile: string): void {
  const current = kc.getContextObject(kc.getCurrentContext());
  if (current === null) throw new Error(`kubeconfig has no context ${kc.getCurrentContext()}`);
  kc.addUser({ name: TOKEN_FILE_USER });
  kc.addContext({ ...current, name: TOKEN_FILE_USER, user: TOKEN_FILE_USER });
  kc.setCurrentContext(TOKEN_FILE_USER);
  kc.addAuthenticator(new TokenFileAuthenticator(TOKEN_FILE_USER, tokenFile));
}

class TokenFileAuthenticator implements Authenticator {
  private cached: { token: string; readAt: number } | undefined;

  constructor(
    private readonly userName: string,
    private readonly file: string,
  ) {}

  isAuthProvider(user: User): boolean {
    return user.name === this.userName;
  }

  async applyAuthentication(_user: User, opts: https.RequestOptions): Promise<void> {
    const token = await this.token();
    // client-node always passes a header object here; the array form never occurs.
    const headers: OutgoingHttpHeaders = isHeaderObject(opts.headers) ? opts.headers : {};
    headers.Authorization = `Bearer ${token}`;
    opts.headers = headers;
  }

  private async token(): Promise<string> {
    const now = Date.now();
    if (this.cached !== undefined && now - this.cached.readAt < TOKEN_REREAD_MS) return this.cached.token;
    const token = (await readFile(this.file, 'utf8')).trim();
    if (token === '') throw new Error(`token file ${this.file} is empty`);
    this.cached = { token, readAt: now };
    return token;
  }
}

function isHeaderObject(h: https.RequestOptions['headers']): h is OutgoingHttpHeaders {
  return h !== undefined && !Array.isArray(h);
}

type CreateDispatcher = (
  cluster: unknown,
  agentOptions: https.AgentOptions,
) => { close?: () => Promise<void> } | undefined;

/**
 * client-node 2.0.1 builds a new undici Agent for every request (KubeConfig.createDispatcher, called
 * from applySecurityAuthentication), so no connection is ever reused: a TLS handshake per request,
 * measured as ~40 % of the controller's CPU and most of its native memory at 10,000 SecretSyncs
 * (docs/benchmarks.md). Keep one Agent while the TLS material is the same; a rotated client
 * certificate or CA gets a new one. Idempotent.
 */
export function shareConnections(kc: KubeConfig): void {
  const target = kc as unknown as { createDispatcher: CreateDispatcher; [SHARED]?: true };
  if (target[SHARED]) return;
  const create = target.createDispatcher.bind(kc);
  let cached: { key: string; dispatcher: ReturnType<CreateDispatcher> } | undefined;
  target.createDispatcher = (cluster, agentOptions) => {
    const key = dispatcherKey(cluster, agentOptions);
    if (cached?.key !== key) {
      const old = cached?.dispatcher;
      cached = { key, dispatcher: create(cluster, agentOptions) };
      void old?.close?.().catch(() => undefined);
    }
    return cached.dispatcher;
  };
  target[SHARED] = true;
}

const SHARED = Symbol('vaultsync.sharedDispatcher');

/** Identifies the TLS material without keeping it: a digest, held in memory only, never logged. */
function dispatcherKey(cluster: unknown, o: https.AgentOptions): string {
  const h = createHash('sha256');
  const server = (cluster as { server?: string } | null)?.server ?? '';
  for (const part of [server, o.ca, o.cert, o.key, o.pfx, o.passphrase, o.servername, String(o.rejectUnauthorized)]) {
    h.update(part === undefined ? '\0' : Buffer.isBuffer(part) ? part : JSON.stringify(part));
    h.update('\n');
  }
  return h.digest('hex');
}
