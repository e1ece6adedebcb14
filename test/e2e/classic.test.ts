/**
 * The classic flows on real parts: etcd + kube-apiserver + OpenBao on loopback, and the built
 * controller as its own process with its own ServiceAccount's RBAC.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestEnv } from '../env/testenv.js';
import {
  createSecret,
  createSecretSync,
  decode,
  deleteSecret,
  deleteSecretSync,
  eventsFor,
  getSecret,
  getSecretSync,
  patchSecretSync,
  putSecret,
  readyOf,
  secretSync,
  sleep,
  waitGone,
  waitReady,
  waitSecret,
} from './helpers.js';

const run = promisify(execFile);

// Canary values: they must reach the Secret and nowhere else (logs, events, status).
const CANARY_DB = 'canary-db-7f3a9c1e';
const CANARY_API = 'canary-api-51b2d8e0';
const CANARY_ROTATED = 'canary-rotated-0d4e6b7a';

let env: TestEnv;
let failed = false;

beforeAll(async () => {
  env = await TestEnv.start();
  failed = true; // until set-up completes: keep the logs if it does not
  await env.createServiceAccount('team-a', 'myapp');
  await env.createServiceAccount('team-b', 'myapp');
  await env.policy('myapp-read', 'path "secret/data/myapp/*" { capabilities = ["read"] }');
  await env.role('app-read', { serviceAccounts: ['myapp'], namespaces: ['team-a'], policies: ['myapp-read'] });
  await env.role('no-policy', { serviceAccounts: ['myapp'], namespaces: ['team-a'], policies: ['default'] });
  await env.writeKv('myapp/config', { database_password: CANARY_DB, api_key: CANARY_API, port: 5432 });
  await env.startController(['--vault-read-cache-ttl=500ms']);
  failed = false;
});

afterAll(async () => {
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- undefined when beforeAll failed
  await env?.stop(failed);
});

const spec = (over: Record<string, unknown> = {}) => ({
  vault: { kv: { path: 'myapp/config' } },
  auth: { kubernetes: { role: 'app-read', serviceAccountName: 'myapp' } },
  data: [
    { secretKey: 'DB_PASS', property: 'database_password' },
    { secretKey: 'API_KEY', property: 'api_key' },
  ],
  target: { name: 'myapp-secret' },
  refresh: { interval: '2s' },
  ...over,
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

describe('classic flow', () => {
  it(
    'syncs two picked and renamed properties into a Secret and reports Ready',
    track(async () => {
      await createSecretSync(env, secretSync('team-a', 'myapp', spec()));
      const ss = await waitReady(env, 'team-a', 'myapp', 'True');
      expect(readyOf(ss)?.reason).toBe('Synced');
      expect(ss.status?.secretName).toBe('myapp-secret');
      expect(ss.status?.vaultVersion).toBe(1);
      const secret = await getSecret(env, 'team-a', 'myapp-secret');
      expect(decode(secret?.data)).toEqual({ DB_PASS: CANARY_DB, API_KEY: CANARY_API });
      expect(secret?.metadata.labels?.['app.kubernetes.io/managed-by']).toBe('vaultsync');
      expect(secret?.metadata.ownerReferences?.[0]).toMatchObject({
        kind: 'SecretSync',
        name: 'myapp',
        uid: ss.metadata.uid,
      });
      expect(secret?.type).toBe('Opaque');
    }),
  );

  it(
    'kubectl get ssync -o wide adds the refresh interval and the last sync; the default columns stay',
    track(async () => {
      const { refresh: _refresh, ...noInterval } = spec({ target: { name: 'no-interval-secret' } });
      await createSecretSync(env, secretSync('team-a', 'no-interval', noInterval));
      await waitReady(env, 'team-a', 'no-interval', 'True');
      const get = async (...extra: string[]) =>
        (
          await run(env.bins.kubectl, [
            `--kubeconfig=${env.adminKubeconfig}`,
            '-n',
            'team-a',
            'get',
            'ssync',
            'myapp',
            'no-interval',
            ...extra,
          ])
        ).stdout;
      const plain = await get();
      const wide = await get('-o', 'wide');
      console.log(`kubectl get ssync -o wide:\n${wide}`);
      expect(plain.split('\n')[0]).toMatch(/^NAME\s+READY\s+REASON\s+SECRET\s+VAULT VERSION\s+AGE$/);
      expect(plain).not.toContain('INTERVAL');
      const [header = '', ...rows] = wide.trimEnd().split('\n');
      expect(header).toMatch(/^NAME\s+READY\s+REASON\s+SECRET\s+VAULT VERSION\s+AGE\s+INTERVAL\s+LAST SYNC$/);
      // Cells by the header's column offsets: an absent value is an empty cell.
      const starts = [...header.matchAll(/(?<=^|\s{2,})\S/g)].map((m) => m.index);
      const row = (name: string) => {
        const line = rows.find((r) => r.startsWith(`${name} `)) ?? '';
        return starts.map((at, i) => line.slice(at, starts[i + 1]).trim());
      };
      const age: unknown = expect.stringMatching(/^\d+[smh]/);
      expect(row('myapp')).toEqual(['myapp', 'True', 'Synced', 'myapp-secret', '1', age, '2s', age]);
      // No spec.refresh: the interval cell is empty (the controller's --refresh-default applies).
      expect(row('no-interval')).toEqual(['no-interval', 'True', 'Synced', 'no-interval-secret', '1', age, '', age]);
      await deleteSecretSync(env, 'team-a', 'no-interval');
    }),
  );

  it(
    'follows a change in Vault within the refresh interval, and writes nothing when nothing changed',
    track(async () => {
      await env.writeKv('myapp/config', { database_password: CANARY_ROTATED, api_key: CANARY_API, port: 5432 });
      const t0 = Date.now();
      const s = await waitSecret(
        env,
        'team-a',
        'myapp-secret',
        (s) => decode(s.data).DB_PASS === CANARY_ROTATED,
        10_000,
      );
      expect(Date.now() - t0).toBeLessThan(6_000); // interval 2s, minus jitter, plus cache 0.5s
      await waitReady(env, 'team-a', 'myapp', 'True');
      await sleep(300);
      const ssBefore = await getSecretSync(env, 'team-a', 'myapp');
      expect(ssBefore?.status?.vaultVersion).toBe(2);
      const rv = (await getSecret(env, 'team-a', 'myapp-secret'))?.metadata.resourceVersion;
      expect(rv).toBe(s.metadata.resourceVersion);
      // Three refresh intervals with unchanged data: neither the Secret nor the SecretSync is written.
      await sleep(6_500);
      expect((await getSecret(env, 'team-a', 'myapp-secret'))?.metadata.resourceVersion).toBe(rv);
      expect((await getSecretSync(env, 'team-a', 'myapp'))?.metadata.resourceVersion).toBe(
        ssBefore?.metadata.resourceVersion,
      );
    }),
  );

  it(
    'restores a managed Secret edited or deleted by hand',
    track(async () => {
      const s = (await getSecret(env, 'team-a', 'myapp-secret'))!;
      await putSecret(env, {
        ...s,
        data: { ...s.data, DB_PASS: Buffer.from('tampered').toString('base64'), EXTRA: 'eA==' },
      });
      await waitSecret(env, 'team-a', 'myapp-secret', (x) => {
        const d = decode(x.data);
        return d.DB_PASS === CANARY_ROTATED && !('EXTRA' in d);
      });
      await deleteSecret(env, 'team-a', 'myapp-secret');
      const back = await waitSecret(env, 'team-a', 'myapp-secret', (x) => decode(x.data).DB_PASS === CANARY_ROTATED);
      expect(back.metadata.uid).not.toBe(s.metadata.uid);
    }),
  );
});

describe('failures are reported and write nothing', () => {
  const cases = [
    {
      name: 'wrong-role',
      reason: 'VaultAuthFailed',
      ns: 'team-a',
      over: { auth: { kubernetes: { role: 'does-not-exist', serviceAccountName: 'myapp' } } },
    },
    // app-read is bound to team-a's ServiceAccount; team-b's ServiceAccount of the same name must not log in.
    { name: 'other-namespace', reason: 'VaultAuthFailed', ns: 'team-b', over: {} },
    {
      name: 'forbidden',
      reason: 'VaultForbidden',
      ns: 'team-a',
      over: { auth: { kubernetes: { role: 'no-policy', serviceAccountName: 'myapp' } } },
    },
    {
      name: 'missing-path',
      reason: 'VaultPathNotFound',
      ns: 'team-a',
      over: { vault: { kv: { path: 'myapp/nope' } } },
    },
    {
      name: 'missing-property',
      reason: 'PropertyNotFound',
      ns: 'team-a',
      over: {
        data: [
          { secretKey: 'DB_PASS', property: 'database_password' },
          { secretKey: 'X', property: 'no_such_property' },
        ],
      },
    },
    {
      name: 'missing-sa',
      reason: 'ServiceAccountTokenFailed',
      ns: 'team-a',
      over: { auth: { kubernetes: { role: 'app-read', serviceAccountName: 'ghost' } } },
    },
  ];

  it.each(cases)('$name → Ready=False $reason, no Secret', async ({ name, reason, ns, over }) => {
    try {
      await createSecretSync(env, secretSync(ns, name, spec({ target: { name: `${name}-secret` }, ...over })));
      const ss = await waitReady(env, ns, name, 'False', reason);
      expect(readyOf(ss)?.message.length).toBeGreaterThan(10);
      expect(await getSecret(env, ns, `${name}-secret`)).toBeUndefined();
      const events = await eventsFor(env, ns, name);
      expect(events.some((e) => e.type === 'Warning' && e.reason === reason)).toBe(true);
    } catch (err) {
      failed = true;
      throw err;
    }
  });

  it(
    'never overwrites a Secret it does not manage',
    track(async () => {
      await createSecret(env, 'team-a', 'foreign', { owner: 'someone-else' });
      await createSecretSync(env, secretSync('team-a', 'conflict', spec({ target: { name: 'foreign' } })));
      const ss = await waitReady(env, 'team-a', 'conflict', 'False', 'SecretConflict');
      expect(readyOf(ss)?.message).toContain('foreign');
      const s = await getSecret(env, 'team-a', 'foreign');
      expect(decode(s?.data)).toEqual({ owner: 'someone-else' });
      expect(s?.metadata.labels?.['app.kubernetes.io/managed-by']).toBeUndefined();
      await deleteSecretSync(env, 'team-a', 'conflict');
    }),
  );
});

describe('Vault outage', () => {
  it(
    'keeps the Secret untouched while Vault is down and recovers without a restart',
    track(async () => {
      await createSecretSync(env, secretSync('team-a', 'outage', spec({ target: { name: 'outage-secret' } })));
      await waitReady(env, 'team-a', 'outage', 'True');
      const before = (await getSecret(env, 'team-a', 'outage-secret'))!;
      await env.stopVault();
      try {
        await waitReady(env, 'team-a', 'outage', 'False', 'VaultUnavailable', 30_000);
        const during = await getSecret(env, 'team-a', 'outage-secret');
        expect(during?.metadata.resourceVersion).toBe(before.metadata.resourceVersion);
        expect(during?.data).toEqual(before.data);
      } finally {
        await env.startVault();
      }
      await waitReady(env, 'team-a', 'outage', 'True', 'Synced', 60_000);
      expect((await getSecret(env, 'team-a', 'outage-secret'))?.data).toEqual(before.data);
    }),
  );
});

describe('immutable targets', () => {
  it(
    'replaces an immutable Secret under the same name when Vault changes',
    track(async () => {
      await env.writeKv('myapp/immutable', { database_password: 'imm-v1', api_key: 'k' });
      await createSecretSync(
        env,
        secretSync(
          'team-a',
          'imm',
          spec({ vault: { kv: { path: 'myapp/immutable' } }, target: { name: 'imm-secret', immutable: true } }),
        ),
      );
      await waitReady(env, 'team-a', 'imm', 'True');
      const first = (await getSecret(env, 'team-a', 'imm-secret'))!;
      expect(first.immutable).toBe(true);
      await env.writeKv('myapp/immutable', { database_password: 'imm-v2', api_key: 'k' });
      const second = await waitSecret(env, 'team-a', 'imm-secret', (s) => decode(s.data).DB_PASS === 'imm-v2', 15_000);
      expect(second.immutable).toBe(true);
      expect(second.metadata.uid).not.toBe(first.metadata.uid);
      expect(decode(second.data)).toEqual({ DB_PASS: 'imm-v2', API_KEY: 'k' });
    }),
  );
});

describe('deletion policy', () => {
  it(
    'Delete removes the Secret with the SecretSync; Retain keeps it',
    track(async () => {
      await createSecretSync(
        env,
        secretSync('team-a', 'del', spec({ target: { name: 'del-secret', deletionPolicy: 'Delete' } })),
      );
      await createSecretSync(
        env,
        secretSync('team-a', 'ret', spec({ target: { name: 'ret-secret', deletionPolicy: 'Retain' } })),
      );
      await waitReady(env, 'team-a', 'del', 'True');
      await waitReady(env, 'team-a', 'ret', 'True');
      expect((await getSecret(env, 'team-a', 'ret-secret'))?.metadata.ownerReferences ?? []).toEqual([]);
      await deleteSecretSync(env, 'team-a', 'del');
      await deleteSecretSync(env, 'team-a', 'ret');
      // No garbage collector runs here: the controller's own cleanup must delete it.
      await waitGone(env, 'team-a', 'del-secret');
      await sleep(1_500);
      expect(decode((await getSecret(env, 'team-a', 'ret-secret'))?.data).DB_PASS).toBe(CANARY_ROTATED);
    }),
  );

  it(
    'a spec change is picked up (generation) and reflected in observedGeneration',
    track(async () => {
      await patchSecretSync(env, 'team-a', 'myapp', { spec: { data: [{ secretKey: 'ONLY', property: 'api_key' }] } });
      const ss = await waitReady(env, 'team-a', 'myapp', 'True');
      expect(ss.status?.observedGeneration).toBe(ss.metadata.generation);
      const s = await waitSecret(env, 'team-a', 'myapp-secret', (x) => 'ONLY' in decode(x.data));
      expect(decode(s.data)).toEqual({ ONLY: CANARY_API });
    }),
  );
});

describe('secrets stay secret', () => {
  it(
    'no canary value (or its base64) appears in controller logs, events or status',
    track(async () => {
      const canaries = [CANARY_DB, CANARY_API, CANARY_ROTATED, env.rootToken];
      const needles = canaries.flatMap((c) => [c, Buffer.from(c).toString('base64')]);
      const haystacks: Record<string, string> = {};
      for (const [name, text] of Object.entries(env.logs())) if (name.startsWith('controller')) haystacks[name] = text;
      for (const ns of ['team-a', 'team-b']) {
        const ev = await eventsFor(env, ns, '');
        haystacks[`events ${ns}`] = JSON.stringify(ev);
        for (const name of [
          'myapp',
          'wrong-role',
          'other-namespace',
          'forbidden',
          'missing-path',
          'missing-property',
          'outage',
          'imm',
        ]) {
          haystacks[`status ${ns}/${name}`] = JSON.stringify((await getSecretSync(env, ns, name))?.status ?? {});
        }
      }
      expect(Object.keys(haystacks).length).toBeGreaterThan(3);
      expect(haystacks['controller-0']?.length ?? 0).toBeGreaterThan(1000);
      for (const [where, text] of Object.entries(haystacks)) {
        for (const needle of needles) expect(text.includes(needle), `${where} contains a canary`).toBe(false);
      }
    }),
  );
});
