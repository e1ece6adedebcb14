/**
 * Everything before the sync engine starts: identities and the Vault role, K KV secrets, the raw
 * Secret-create rate of this apiserver, and the N sync objects (all created before the engine
 * starts, so the initial-sync time is the engine's own throughput, not the bench's POST rate).
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { TestEnv } from '../test/env/testenv.js';
import { pool, sleep, type Client } from './client.js';
import { ROLE, SA, type Engine, type SyncObjectSpec } from './engines.js';

export interface Layout {
  n: number;
  k: number;
  namespaces: number;
  interval: string;
}

export const nsName = (i: number) => `bench-${i}`;
export const namespacesOf = (l: Layout) => Array.from({ length: l.namespaces }, (_, i) => nsName(i));

/**
 * Object i lives in namespace i mod namespaces and reads path i mod K. When K is a multiple of the
 * namespace count (the defaults), each path is read by one identity only, so there are exactly K
 * (identity, path) groups; otherwise up to lcm(namespaces, K).
 */
export function specOf(l: Layout, i: number, prefix = ''): SyncObjectSpec {
  return {
    namespace: nsName(i % l.namespaces),
    name: `${prefix}ss-${i}`,
    path: `bench/p${i % l.k}`,
    target: `${prefix}s-${i}`,
    interval: l.interval,
  };
}

export function groupCount(l: Layout): number {
  const groups = new Set<string>();
  for (let i = 0; i < l.n; i++) groups.add(`${i % l.namespaces}/${i % l.k}`);
  return groups.size;
}

export async function setupIdentities(env: TestEnv, l: Layout): Promise<void> {
  const namespaces = namespacesOf(l);
  for (const ns of namespaces) await env.createServiceAccount(ns, SA);
  await env.policy('bench-read', 'path "secret/data/bench/*" { capabilities = ["read"] }');
  await env.role(ROLE, { serviceAccounts: [SA], namespaces, policies: ['bench-read'], ttl: '1h' });
}

export async function writeKvPaths(vault: Client, k: number, concurrency: number): Promise<void> {
  await pool(k, concurrency, async (j) => {
    await vault.must('POST', `/v1/secret/data/bench/p${j}`, {
      data: { username: `user-${j}`, password: randomBytes(16).toString('hex') },
    });
  });
}

/** A Secret of the size and shape vaultsync writes: two keys, its label, annotations and owner reference. */
function rawSecret(i: number) {
  const b64 = (s: string) => Buffer.from(s).toString('base64');
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: {
      name: `raw-${i}`,
      labels: { 'app.kubernetes.io/managed-by': 'bench' },
      annotations: {
        'vaultsync.io/secretsync': `bench-raw/ss-${i}`,
        'vaultsync.io/deletion-policy': 'Delete',
        'vaultsync.io/vault-version': '1',
        'vaultsync.io/content-hmac': createHash('sha256').update(String(i)).digest('hex'),
      },
      ownerReferences: [
        {
          apiVersion: 'vaultsync.io/v1alpha1',
          kind: 'SecretSync',
          name: `ss-${i}`,
          uid: randomUUID(),
          controller: true,
          blockOwnerDeletion: true,
        },
      ],
    },
    type: 'Opaque',
    data: { USERNAME: b64(`user-${i}`), PASSWORD: b64(randomBytes(16).toString('hex')) },
  };
}

export interface RawRate {
  n: number;
  concurrency: number;
  seconds: number;
  /** Objects per second, each one Secret create and one status merge patch (the two writes of a sync). */
  perSecond: number;
  deleteSeconds: number;
  /** CPU seconds per process during the timed writes (kube-apiserver, etcd, machine, outsideBench…). */
  cpuSeconds?: Record<string, number>;
}

/** The status an engine writes after a sync, in the shape of a Ready condition (the apiserver prunes fields a CRD lacks). */
function rawStatus(i: number) {
  const now = new Date().toISOString();
  return {
    status: {
      observedGeneration: 1,
      secretName: `raw-${i}`,
      vaultVersion: 1,
      lastSyncTime: now,
      conditions: [
        {
          type: 'Ready',
          status: 'True',
          reason: 'Synced',
          message: `Secret raw-${i} is in sync with Vault version 1`,
          lastTransitionTime: now,
          observedGeneration: 1,
        },
      ],
    },
  };
}

/**
 * What this apiserver can do for the writes one sync costs: plain keep-alive HTTPS requests with the
 * admin certificate at the engine's write concurrency, into a scratch namespace, each object being a
 * Secret create followed by a JSON merge patch of a sync object's status (both writes a sync needs
 * before it is Ready). The sync objects are created first, untimed; afterwards both collections are
 * deleted so the engine starts on the same etcd size as the run without them.
 */
export async function measureRawCreates(
  env: TestEnv,
  kube: Client,
  engine: Engine,
  layout: Layout,
  concurrency: number,
  /** Starts a CPU measurement; what it returns ends it with the CPU seconds per process. */
  cpu?: () => Promise<() => Promise<Record<string, number>>>,
): Promise<RawRate> {
  const n = layout.n;
  const ns = 'bench-raw';
  await env.createNamespace(ns);
  const path = `/api/v1/namespaces/${ns}/secrets`;
  const objects = engine.objectsPath(ns);
  await pool(n, Math.max(32, concurrency), async (i) => {
    const spec = { ...specOf(layout, i), namespace: ns, name: `raw-ss-${i}`, target: `raw-${i}` };
    await kube.must('POST', objects, engine.object(spec), [409]);
  });
  const cpuSince = await cpu?.();
  const t0 = performance.now();
  await pool(n, concurrency, async (i) => {
    await kube.must('POST', path, rawSecret(i));
    await kube.must('PATCH', `${objects}/raw-ss-${i}/status`, rawStatus(i), [], {
      'content-type': 'application/merge-patch+json',
    });
  });
  const seconds = (performance.now() - t0) / 1000;
  const cpuSeconds = await cpuSince?.();
  const d0 = performance.now();
  const deadline = Date.now() + 300_000;
  for (const collection of [path, objects]) {
    for (;;) {
      await kube.request('DELETE', collection, undefined, {}, 120_000).catch(() => undefined);
      const left = await kube.must<{ items: unknown[] }>('GET', `${collection}?limit=1`);
      if (left.body.items.length === 0) break;
      if (Date.now() > deadline) throw new Error(`scratch objects in ${collection} not deleted within 5 min`);
      await sleep(1000);
    }
  }
  return {
    n,
    concurrency,
    seconds,
    perSecond: n / seconds,
    deleteSeconds: (performance.now() - d0) / 1000,
    ...(cpuSeconds === undefined ? {} : { cpuSeconds }),
  };
}

export async function createObjects(
  kube: Client,
  engine: Engine,
  specs: (i: number) => SyncObjectSpec,
  count: number,
  concurrency: number,
): Promise<{ seconds: number; perSecond: number }> {
  const t0 = performance.now();
  await pool(count, concurrency, async (i) => {
    const o = specs(i);
    await kube.must('POST', engine.objectsPath(o.namespace), engine.object(o), [409]);
  });
  const seconds = (performance.now() - t0) / 1000;
  return { seconds, perSecond: count / seconds };
}
