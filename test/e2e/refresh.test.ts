/**
 * Refresh policies, force-sync and rollout restarts on real parts: etcd + kube-apiserver + OpenBao
 * on loopback, the built controller as its own process with its own ServiceAccount's RBAC.
 * Deployments are real API objects; nothing runs their pods (no controller-manager, no kubelet), so
 * a restart shows as the pod template's annotations and the Deployment's generation.
 */
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../env/http.js';
import { TestEnv } from '../env/testenv.js';
import { assertNoCanaries } from './canary.js';
import {
  annotateSecretSync,
  createDeployment,
  createSecretSync,
  decode,
  deleteSecret,
  deleteSecretSync,
  eventsFor,
  getDeployment,
  getSecret,
  getSecretSync,
  patchSecretSync,
  readyOf,
  secretSync,
  sleep,
  waitReady,
  waitSecret,
} from './helpers.js';

const NS = 'team-r';
const FORCE = 'vaultsync.io/force-sync';
const RESTARTED_AT = 'vaultsync.io/restartedAt';
const DIGEST = 'vaultsync.io/restart-digest';
// Canary values: they must reach the Secrets and nowhere else (logs, events, status, annotations).
const C = {
  one: 'canary-refresh-one-5d1c8e2a',
  oneB: 'canary-refresh-oneB-93f0a7d4',
  two: 'canary-refresh-two-0b6e4c19',
  twoB: 'canary-refresh-twoB-7a2d5f83',
  v1: 'canary-refresh-v1-4e8b0c6d',
  v2: 'canary-refresh-v2-1f9a3e75',
  v3: 'canary-refresh-v3-6c2e8b40',
};

let env: TestEnv;
let failed = false;
let metricsUrl = '';

beforeAll(async () => {
  env = await TestEnv.start();
  failed = true; // until set-up completes: keep the logs if it does not
  await env.createServiceAccount(NS, 'app');
  await env.policy('refresh-read', 'path "secret/data/refresh/*" { capabilities = ["read"] }');
  await env.role('refresh-read', { serviceAccounts: ['app'], namespaces: [NS], policies: ['refresh-read'] });
  // A long shared read cache: only a fresh read (push or force-sync) can see a change before it expires.
  const started = await env.startController(['--vault-read-cache-ttl=10m']);
  metricsUrl = started.url;
  failed = false;
});

afterAll(async () => {
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- undefined when beforeAll failed
  await env?.stop(failed);
});

function track<T>(fn: () => Promise<T>): () => Promise<T> {
  return async () => {
    try {
      return await fn();
    } catch (err) {
      failed = true;
      throw err;
    }
  };
}

const spec = (path: string, target: string, over: Record<string, unknown> = {}) => ({
  vault: { kv: { path: `refresh/${path}` } },
  auth: { kubernetes: { role: 'refresh-read', serviceAccountName: 'app' } },
  target: { name: target },
  ...over,
});

const value = async (name: string) => decode((await getSecret(env, NS, name))?.data).password;
const generation = async (name: string) => (await getDeployment(env, NS, name)).metadata.generation;
const forceHandled = (name: string, v: string) =>
  waitFor(
    `${name} handled force-sync ${v}`,
    async () => (await getSecretSync(env, NS, name))?.status?.lastForceSync === v,
    15_000,
  );

describe('refresh policies', () => {
  it(
    'OnChange: no read until the spec changes or a force-sync; no status churn meanwhile',
    track(async () => {
      await env.writeKv('refresh/onchange', { password: C.v1 });
      await createSecretSync(
        env,
        secretSync(
          NS,
          'onchange',
          spec('onchange', 'onchange-secret', { refresh: { policy: 'OnChange', interval: '1s' } }),
        ),
      );
      const ss = await waitReady(env, NS, 'onchange', 'True');
      expect(readyOf(ss)?.message).toContain('refresh.policy OnChange reads again on a spec change');
      await env.writeKv('refresh/onchange', { password: C.v2 });
      const rv = (await getSecret(env, NS, 'onchange-secret'))?.metadata.resourceVersion;
      const ssRv = (await getSecretSync(env, NS, 'onchange'))?.metadata.resourceVersion;
      await sleep(4_000); // four times its (ignored) interval
      expect(await value('onchange-secret')).toBe(C.v1);
      expect((await getSecret(env, NS, 'onchange-secret'))?.metadata.resourceVersion).toBe(rv);
      expect((await getSecretSync(env, NS, 'onchange'))?.metadata.resourceVersion).toBe(ssRv);

      // A spec change (generation) reads again.
      await patchSecretSync(env, NS, 'onchange', { spec: { target: { labels: { team: 'r' } } } });
      await waitSecret(env, NS, 'onchange-secret', (s) => decode(s.data).password === C.v2, 15_000);

      // A force-sync reads again, fresh.
      await env.writeKv('refresh/onchange', { password: C.v3 });
      await annotateSecretSync(env, NS, 'onchange', FORCE, 'a');
      await waitSecret(env, NS, 'onchange-secret', (s) => decode(s.data).password === C.v3, 10_000);
      await forceHandled('onchange', 'a');
    }),
  );

  it(
    'CreatedOnce: written once; a Vault change and a force-sync leave it; deleted, it is created again from Vault',
    track(async () => {
      await env.writeKv('refresh/once', { password: C.v1 });
      await createSecretSync(
        env,
        secretSync(NS, 'once', spec('once', 'once-secret', { refresh: { policy: 'CreatedOnce' } })),
      );
      await waitReady(env, NS, 'once', 'True');
      const first = await getSecret(env, NS, 'once-secret');
      expect(decode(first?.data).password).toBe(C.v1);
      const lastSync = (await getSecretSync(env, NS, 'once'))?.status?.lastSyncTime;

      await env.writeKv('refresh/once', { password: C.v2 });
      await annotateSecretSync(env, NS, 'once', FORCE, '1');
      await forceHandled('once', '1');
      await waitFor(
        'ForceSyncIgnored event',
        async () =>
          (await eventsFor(env, NS, 'once')).some((e) => e.reason === 'ForceSyncIgnored' && e.type === 'Warning'),
        10_000,
      );
      await sleep(2_000);
      expect((await getSecret(env, NS, 'once-secret'))?.metadata.resourceVersion).toBe(first?.metadata.resourceVersion);
      const ss = await getSecretSync(env, NS, 'once');
      expect(ss?.status?.lastSyncTime).toBe(lastSync);
      expect(readyOf(ss)).toMatchObject({ status: 'True', reason: 'Synced' });
      expect(readyOf(ss)?.message).toContain('CreatedOnce neither reads nor writes it again while it exists');

      await deleteSecret(env, NS, 'once-secret');
      await waitSecret(env, NS, 'once-secret', (s) => decode(s.data).password === C.v2, 15_000);
    }),
  );

  it(
    'force-sync: one fresh read past a 10-minute read cache, handled once (no loop)',
    track(async () => {
      await env.writeKv('refresh/cached', { password: C.v1 });
      await createSecretSync(
        env,
        secretSync(NS, 'cached-a', spec('cached', 'cached-a', { refresh: { interval: '1h' } })),
      );
      await waitReady(env, NS, 'cached-a', 'True');
      await env.writeKv('refresh/cached', { password: C.v2 });
      // Same identity and path: the shared read (6 minutes old at most for a 1h interval) serves it.
      await createSecretSync(
        env,
        secretSync(NS, 'cached-b', spec('cached', 'cached-b', { refresh: { interval: '1h' } })),
      );
      await waitReady(env, NS, 'cached-b', 'True');
      expect(await value('cached-b')).toBe(C.v1);

      const t0 = Date.now();
      await annotateSecretSync(env, NS, 'cached-b', FORCE, String(t0));
      await waitSecret(env, NS, 'cached-b', (s) => decode(s.data).password === C.v2, 10_000);
      const seenMs = Date.now() - t0;
      await forceHandled('cached-b', String(t0));
      console.log(`force-sync: new Vault value in the Secret ${seenMs} ms after annotating`);
      expect(seenMs).toBeLessThan(5_000);

      // Handled: nothing more is written (the status write of lastForceSync does not wake it again).
      await sleep(500);
      const ssRv = (await getSecretSync(env, NS, 'cached-b'))?.metadata.resourceVersion;
      const rv = (await getSecret(env, NS, 'cached-b'))?.metadata.resourceVersion;
      await sleep(3_000);
      expect((await getSecretSync(env, NS, 'cached-b'))?.metadata.resourceVersion).toBe(ssRv);
      expect((await getSecret(env, NS, 'cached-b'))?.metadata.resourceVersion).toBe(rv);
    }),
  );
});

describe('rollout restarts', () => {
  it(
    'two SecretSyncs feeding one Deployment, changed within a second: exactly one restart; none at first sync or for a no-op refresh',
    track(async () => {
      const web = await createDeployment(env, NS, 'web');
      await env.writeKv('refresh/one', { password: C.one });
      await env.writeKv('refresh/two', { password: C.two });
      const feed = (name: string) =>
        secretSync(
          NS,
          name,
          spec(name, `${name}-secret`, {
            refresh: { policy: 'OnChange' },
            rolloutRestartTargets: [{ kind: 'Deployment', name: 'web' }],
          }),
        );
      await createSecretSync(env, feed('one'));
      await createSecretSync(env, feed('two'));
      await waitReady(env, NS, 'one', 'True');
      await waitReady(env, NS, 'two', 'True');
      await sleep(3_000); // past the restart window: a restart for the first sync would show now
      let d = await getDeployment(env, NS, 'web');
      expect(d.metadata.generation).toBe(web.metadata.generation);
      expect(d.spec.template.metadata?.annotations?.[RESTARTED_AT]).toBeUndefined();

      await env.writeKv('refresh/one', { password: C.oneB });
      await env.writeKv('refresh/two', { password: C.twoB });
      await annotateSecretSync(env, NS, 'one', FORCE, 'r1');
      await sleep(400);
      await annotateSecretSync(env, NS, 'two', FORCE, 'r1');
      await waitSecret(env, NS, 'one-secret', (s) => decode(s.data).password === C.oneB, 10_000);
      await waitSecret(env, NS, 'two-secret', (s) => decode(s.data).password === C.twoB, 10_000);
      d = await waitFor(
        'web restarted',
        async () => {
          const x = await getDeployment(env, NS, 'web');
          return x.spec.template.metadata?.annotations?.[RESTARTED_AT] === undefined ? undefined : x;
        },
        10_000,
      );
      await sleep(4_000);
      d = await getDeployment(env, NS, 'web');
      expect(d.metadata.generation).toBe(web.metadata.generation + 1);
      const digest = d.spec.template.metadata?.annotations?.[DIGEST] ?? '';
      expect(digest).toMatch(/^[0-9a-f]{32}$/);
      for (const v of [C.oneB, C.twoB]) expect(createHash('sha256').update(v).digest('hex')).not.toContain(digest);
      for (const name of ['one', 'two']) {
        expect((await eventsFor(env, NS, name)).some((e) => e.reason === 'RolloutRestarted')).toBe(true);
      }

      // A no-op refresh (fresh reads of unchanged values) restarts nothing.
      await annotateSecretSync(env, NS, 'one', FORCE, 'r2');
      await annotateSecretSync(env, NS, 'two', FORCE, 'r2');
      await forceHandled('one', 'r2');
      await forceHandled('two', 'r2');
      await sleep(3_000);
      expect(await generation('web')).toBe(web.metadata.generation + 1);
    }),
  );

  it(
    'Periodic: a new SecretSync over the identical Secret its predecessor left restarts nothing; a Vault change restarts once',
    track(async () => {
      const web2 = await createDeployment(env, NS, 'web2');
      await env.writeKv('refresh/periodic', { password: C.v1 });
      const obj = secretSync(
        NS,
        'periodic',
        spec('periodic', 'periodic-secret', {
          target: { name: 'periodic-secret', deletionPolicy: 'Retain' },
          refresh: { interval: '1s' },
          rolloutRestartTargets: [{ kind: 'Deployment', name: 'web2' }],
        }),
      );
      await createSecretSync(env, obj);
      await waitReady(env, NS, 'periodic', 'True');
      await deleteSecretSync(env, NS, 'periodic');
      await waitFor('periodic deleted', async () => (await getSecretSync(env, NS, 'periodic')) === undefined, 10_000);
      expect(await value('periodic-secret')).toBe(C.v1); // retained
      await createSecretSync(env, obj);
      await waitReady(env, NS, 'periodic', 'True');
      await sleep(4_000); // several periodic refreshes with nothing new, and past the window
      expect(await generation('web2')).toBe(web2.metadata.generation);

      await env.writeKv('refresh/periodic', { password: C.v2 });
      await waitSecret(env, NS, 'periodic-secret', (s) => decode(s.data).password === C.v2, 10_000);
      await waitFor('web2 restarted', async () => (await generation('web2')) === web2.metadata.generation + 1, 10_000);
      await sleep(4_000);
      expect(await generation('web2')).toBe(web2.metadata.generation + 1);
    }),
  );

  it(
    'a missing target is a Warning event; the sync stays Ready=True and the Secret changes',
    track(async () => {
      await env.writeKv('refresh/missing', { password: C.v1 });
      await createSecretSync(
        env,
        secretSync(
          NS,
          'missing',
          spec('missing', 'missing-secret', {
            refresh: { policy: 'OnChange' },
            rolloutRestartTargets: [
              { kind: 'Deployment', name: 'not-there' },
              { kind: 'StatefulSet', name: 'not-there-either' },
            ],
          }),
        ),
      );
      await waitReady(env, NS, 'missing', 'True');
      await env.writeKv('refresh/missing', { password: C.v3 });
      await annotateSecretSync(env, NS, 'missing', FORCE, 'm1');
      await waitSecret(env, NS, 'missing-secret', (s) => decode(s.data).password === C.v3, 10_000);
      const events = await waitFor(
        'two RolloutTargetNotFound events',
        async () => {
          const e = (await eventsFor(env, NS, 'missing')).filter((x) => x.reason === 'RolloutTargetNotFound');
          return e.length >= 2 ? e : undefined;
        },
        15_000,
      );
      expect(events.map((e) => e.type)).toEqual(['Warning', 'Warning']);
      expect(events.map((e) => e.message).sort()).toEqual([
        `Deployment not-there not found in namespace ${NS}; nothing was restarted (spec.rolloutRestartTargets)`,
        `StatefulSet not-there-either not found in namespace ${NS}; nothing was restarted (spec.rolloutRestartTargets)`,
      ]);
      const ss = await waitReady(env, NS, 'missing', 'True');
      expect(readyOf(ss)?.reason).toBe('Synced');
    }),
  );

  it(
    'no canary in logs, events, status or metrics',
    track(async () => {
      await assertNoCanaries(env, { canaries: Object.values(C), metricsUrls: [metricsUrl] });
    }),
  );
});
