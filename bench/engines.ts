/**
 * The two sync engines the bench drives the same way: vaultsync (the built controller, run by
 * TestEnv as its own ServiceAccount) and External Secrets Operator v0.16.2 (its core controller
 * binary, built by `test/env/build.sh --eso`).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { cacheDir } from '../test/env/paths.js';
import { freePort, Proc } from '../test/env/process.js';
import { ISSUER, VAULT_AUDIENCE, type TestEnv } from '../test/env/testenv.js';
import { sleep, type Client } from './client.js';

export const ESO_VERSION = 'v0.16.2';
export const ROLE = 'bench';
export const SA = 'app';

export interface SyncObjectSpec {
  namespace: string;
  name: string;
  /** KV path under the `secret` mount, e.g. bench/p17. */
  path: string;
  target: string;
  interval: string;
  labels?: Record<string, string>;
  /** Labels on the written Secret (vaultsync only; ESO would need a template). */
  targetLabels?: Record<string, string>;
}

export interface Running {
  pid: number | undefined;
  /** Base URL of the engine's HTTP server (vaultsync: health, metrics, webhook; ESO: metrics). */
  url: string;
  running(): boolean;
  /** Where its output goes, for error messages. */
  logFile: string;
  stop(): Promise<void>;
}

export interface Engine {
  readonly name: 'vaultsync' | 'eso';
  /** Resource name of the sync object as apiserver metrics label it. */
  readonly resource: string;
  /** Prefixes of the engine's own counters worth keeping per phase. */
  readonly metricPrefixes: string[];
  /** Series key prefix of the engine's reconcile counter (per sync object reconciled). */
  readonly reconcileSeries: string;
  readonly version: string;
  objectsPath(namespace: string): string;
  /** Cluster-wide collection path (for watches). */
  allObjectsPath(): string;
  object(o: SyncObjectSpec): unknown;
  /** CRDs, stores, identities the engine needs besides the shared Vault role. */
  prepare(env: TestEnv, kube: Client, namespaces: string[]): Promise<void>;
  /** `readyTimeoutMs`: how long the engine may take to say it is ready (its caches listed). */
  start(env: TestEnv, extraArgs: string[], readyTimeoutMs: number): Promise<Running>;
}

const DATA = [
  { secretKey: 'USERNAME', property: 'username' },
  { secretKey: 'PASSWORD', property: 'password' },
];

/**
 * The Node.js flags the image starts the controller with: those between the node binary and
 * bin/vaultsync.js in the Dockerfile's ENTRYPOINT, so the bench measures what a user runs.
 */
export function imageNodeFlags(dockerfile = join(import.meta.dirname, '..', 'Dockerfile')): string[] {
  const line = /^ENTRYPOINT\s+(\[.*\])\s*$/m.exec(readFileSync(dockerfile, 'utf8'));
  if (!line?.[1]) throw new Error(`${dockerfile}: no ENTRYPOINT ["node", ..., "bin/vaultsync.js"] line`);
  const argv = JSON.parse(line[1]) as string[];
  const bin = argv.findIndex((a) => a.endsWith('/bin/vaultsync.js'));
  if (bin < 1) throw new Error(`${dockerfile}: the ENTRYPOINT does not run bin/vaultsync.js`);
  return argv.slice(1, bin);
}

/**
 * `nodeOptions`: NODE_OPTIONS for the controller, e.g. `--cpu-prof --cpu-prof-dir=…` to profile it;
 * the image's own Node.js flags (imageNodeFlags) come first.
 */
export function vaultsyncEngine(controllerArgs: string[], nodeOptions?: string): Engine {
  const options = [...imageNodeFlags(), ...(nodeOptions ? [nodeOptions] : [])].join(' ');
  return {
    name: 'vaultsync',
    resource: 'secretsyncs',
    metricPrefixes: ['vaultsync_vault_', 'vaultsync_syncs_total', 'vaultsync_cache_', 'vaultsync_webhook_'],
    reconcileSeries: 'vaultsync_syncs_total{',
    version: vaultsyncVersion(),
    objectsPath: (ns) => `/apis/vaultsync.io/v1alpha1/namespaces/${ns}/secretsyncs`,
    allObjectsPath: () => '/apis/vaultsync.io/v1alpha1/secretsyncs',
    object: (o) => ({
      apiVersion: 'vaultsync.io/v1alpha1',
      kind: 'SecretSync',
      metadata: { name: o.name, namespace: o.namespace, ...(o.labels ? { labels: o.labels } : {}) },
      spec: {
        vault: { kv: { mount: 'secret', path: o.path } },
        auth: { kubernetes: { role: ROLE, serviceAccountName: SA } },
        data: DATA,
        target: { name: o.target, ...(o.targetLabels ? { labels: o.targetLabels } : {}) },
        refresh: { interval: o.interval },
      },
    }),
    prepare: () => Promise.resolve(),
    async start(env, extraArgs, readyTimeoutMs) {
      const { proc, url } = await env.startController([...controllerArgs, ...extraArgs], 'vaultsync', {
        ...(options ? { env: { NODE_OPTIONS: options } } : {}),
        readyTimeoutMs,
      });
      // A profiled controller writes its CPU and heap profiles as it exits: minutes on a busy machine
      // (SIGKILL after 10 s lost them).
      const graceMs = options.includes('-prof') ? 300_000 : 10_000;
      return { pid: proc.pid, url, running: () => proc.running, logFile: proc.logFile, stop: () => proc.stop(graceMs) };
    },
  };
}

function vaultsyncVersion(): string {
  const pkg = JSON.parse(readFileSync(join(import.meta.dirname, '..', 'package.json'), 'utf8')) as { version: string };
  try {
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'src'], { encoding: 'utf8' }).trim() !== '';
    return `${pkg.version} (${head}${dirty ? ' + uncommitted src/ changes' : ''})`;
  } catch {
    return pkg.version;
  }
}

/** The ESO binary from the env file build.sh writes, or why it is not there. */
export function findEsoBinary(): { bin?: string; why?: string } {
  const fromEnv = process.env.VAULTSYNC_ESO_BIN;
  if (fromEnv) return existsSync(fromEnv) ? { bin: fromEnv } : { why: `VAULTSYNC_ESO_BIN=${fromEnv} does not exist` };
  const file = join(cacheDir(), 'testenv.env');
  const line = existsSync(file) ? /^VAULTSYNC_ESO_BIN=(.*)$/m.exec(readFileSync(file, 'utf8')) : null;
  if (!line?.[1]) return { why: `no VAULTSYNC_ESO_BIN in ${file}: run \`test/env/build.sh --eso\`` };
  return existsSync(line[1]) ? { bin: line[1] } : { why: `${line[1]} (from ${file}) does not exist` };
}

/** ESO's CRD bundle from the module cache (the module build.sh compiled). */
export function findEsoCrds(): { file?: string; why?: string } {
  let modCache = join(homedir(), 'go', 'pkg', 'mod');
  try {
    modCache = execFileSync('go', ['env', 'GOMODCACHE'], { encoding: 'utf8' }).trim() || modCache;
  } catch {
    // no go on PATH: the default module cache location
  }
  const file = join(
    modCache,
    'github.com',
    'external-secrets',
    `external-secrets@${ESO_VERSION}`,
    'deploy',
    'crds',
    'bundle.yaml',
  );
  return existsSync(file) ? { file } : { why: `${file} not found (GOMODCACHE=${modCache})` };
}

const ESO_NS = 'eso-system';
const ESO_SA = 'external-secrets';

export function esoEngine(bin: string, crds: string, concurrency: number, writeQps: number): Engine {
  return {
    name: 'eso',
    resource: 'externalsecrets',
    // Not externalsecret_sync_calls_total and friends: one series per ExternalSecret.
    metricPrefixes: ['externalsecret_provider_api_calls_count', 'controller_runtime_reconcile_total'],
    reconcileSeries: 'controller_runtime_reconcile_total{controller="externalsecret"',
    version: ESO_VERSION,
    objectsPath: (ns) => `/apis/external-secrets.io/v1/namespaces/${ns}/externalsecrets`,
    allObjectsPath: () => '/apis/external-secrets.io/v1/externalsecrets',
    object: (o) => ({
      apiVersion: 'external-secrets.io/v1',
      kind: 'ExternalSecret',
      metadata: { name: o.name, namespace: o.namespace, ...(o.labels ? { labels: o.labels } : {}) },
      spec: {
        refreshInterval: o.interval,
        secretStoreRef: { kind: 'SecretStore', name: 'vault' },
        target: { name: o.target, creationPolicy: 'Owner' },
        data: DATA.map((d) => ({ secretKey: d.secretKey, remoteRef: { key: o.path, property: d.property } })),
      },
    }),
    async prepare(env, kube, namespaces) {
      await applyCrds(kube, crds);
      // cluster-admin for simplicity: the bench measures throughput, not ESO's least privilege.
      await env.createServiceAccount(ESO_NS, ESO_SA);
      await env.bindExistingClusterRole('bench-eso-admin', 'cluster-admin', { namespace: ESO_NS, name: ESO_SA });
      for (const ns of namespaces) {
        await kube.must('POST', `/apis/external-secrets.io/v1/namespaces/${ns}/secretstores`, {
          apiVersion: 'external-secrets.io/v1',
          kind: 'SecretStore',
          metadata: { name: 'vault', namespace: ns },
          spec: {
            provider: {
              vault: {
                server: env.vaultAddr,
                path: 'secret',
                version: 'v2',
                auth: {
                  kubernetes: {
                    mountPath: 'kubernetes',
                    role: ROLE,
                    serviceAccountRef: { name: SA, audiences: [VAULT_AUDIENCE] },
                  },
                },
              },
            },
          },
        });
      }
    },
    async start(env, extraArgs) {
      const tokenFile = join(env.dir, 'eso.kube-token');
      writeFileSync(tokenFile, await env.tokenFor(ESO_NS, ESO_SA, [ISSUER], 24 * 3600), { mode: 0o600 });
      const kubeconfig = join(env.dir, 'eso.kubeconfig');
      writeFileSync(kubeconfig, env.kubeconfig({ tokenFile }));
      const port = await freePort();
      const proc = new Proc(
        'eso',
        bin,
        [
          `--metrics-addr=127.0.0.1:${port}`,
          '--enable-leader-election=false',
          `--concurrent=${concurrency}`,
          // Same API budget as vaultsync's --write-qps; ESO's default 50 QPS would cap it far lower.
          `--client-qps=${writeQps}`,
          `--client-burst=${writeQps}`,
          '--loglevel=info',
          ...extraArgs,
        ],
        env.logDir,
        { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', KUBECONFIG: kubeconfig },
      );
      proc.start();
      const url = `http://127.0.0.1:${port}`;
      const deadline = Date.now() + 60_000;
      for (;;) {
        if (!proc.running) throw new Error(`ESO exited (code ${proc.exitCode}); see ${proc.logFile}`);
        try {
          const r = await fetch(`${url}/metrics`);
          if (r.ok) break;
        } catch {
          // not listening yet
        }
        if (Date.now() > deadline) throw new Error(`ESO metrics did not answer within 60 s; see ${proc.logFile}`);
        await sleep(200);
      }
      return { pid: proc.pid, url, running: () => proc.running, logFile: proc.logFile, stop: () => proc.stop(10_000) };
    },
  };
}

async function applyCrds(kube: Client, file: string): Promise<void> {
  const names: string[] = [];
  for (const doc of parseAllDocuments(readFileSync(file, 'utf8'))) {
    const crd = doc.toJS() as { kind?: string; metadata?: { name: string } } | null;
    if (crd?.kind !== 'CustomResourceDefinition' || !crd.metadata) continue;
    await kube.must('POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', crd, [409]);
    names.push(crd.metadata.name);
  }
  const deadline = Date.now() + 120_000;
  for (const name of names) {
    for (;;) {
      const r = await kube.request<{ status?: { conditions?: { type: string; status: string }[] } }>(
        'GET',
        `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${name}`,
      );
      if (r.body.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True')) break;
      if (Date.now() > deadline) throw new Error(`CRD ${name} not established within 120 s`);
      await sleep(200);
    }
  }
  for (const path of ['/apis/external-secrets.io/v1/externalsecrets', '/apis/external-secrets.io/v1/secretstores']) {
    for (;;) {
      if ((await kube.request('GET', `${path}?limit=1`)).status === 200) break;
      if (Date.now() > deadline) throw new Error(`${path} not served within 120 s`);
      await sleep(200);
    }
  }
}
