/**
 * Shaping the Secret on real parts (etcd + kube-apiserver + OpenBao, the controller as its own
 * process): templates (a DSN, a .dockerconfigjson), nested and array properties, several sources
 * merged, all keys reshaped, and templates that try to escape their sandbox, loop or blow up, each
 * ending in TemplateError with the Secret untouched and no value anywhere but in the Secret.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestEnv } from '../env/testenv.js';
import {
  createSecretSync,
  decode,
  eventsFor,
  getSecret,
  getSecretSync,
  patchSecretSync,
  secretSync,
  sleep,
  waitReady,
  waitSecret,
} from './helpers.js';

const NS = 'shape';
const CANARY_PW = 'canary-shape-pw-4b7e1a';
const CANARY_REG = 'canary-shape-reg-92c0fd';
const CANARY_NESTED = 'canary-shape-nested-e3d5';
const CANARIES = [CANARY_PW, CANARY_REG, CANARY_NESTED];

let env: TestEnv;
let failed = false;

beforeAll(async () => {
  env = await TestEnv.start();
  failed = true;
  await env.createServiceAccount(NS, 'app');
  await env.policy('shape-read', 'path "secret/data/shape/*" { capabilities = ["read"] }');
  await env.role('shape-read', { serviceAccounts: ['app'], namespaces: [NS], policies: ['shape-read'] });
  await env.writeKv('shape/db', { user: 'app', password: `p@ss ${CANARY_PW}`, host: 'db.internal', port: 5432 });
  await env.writeKv('shape/registry', { server: 'registry.example', username: 'ci', password: CANARY_REG });
  await env.writeKv('shape/nested', {
    config: { db: { hosts: ['h0', 'h1'], 'pool.size': 10 }, flags: { beta: true } },
    'dotted.key': 'top-level wins',
    dotted: { key: 'nested loses' },
    secret: { inner: CANARY_NESTED },
  });
  await env.writeKv('shape/defaults', { LOG_LEVEL: 'info', REGION: 'eu-1', FEATURE: 'off' });
  await env.writeKv('shape/overrides', { LOG_LEVEL: 'debug' });
  await env.writeKv('shape/encoded', {
    'db-user': Buffer.from('enc-user').toString('base64'),
    'db-pass': Buffer.from('enc-pass').toString('base64'),
    'api-token': Buffer.from('enc-token').toString('base64'),
  });
  await env.startController(['--vault-read-cache-ttl=500ms']);
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

const auth = { kubernetes: { role: 'shape-read', serviceAccountName: 'app' } };
const base = (over: Record<string, unknown>) => ({ auth, refresh: { interval: '1m' }, ...over });

describe('shaping the Secret', () => {
  it(
    'renders a DSN and a .dockerconfigjson from two named sources',
    track(async () => {
      const dockerconfig =
        '{"auths":{"{{ sources.reg.server }}":{"username":{{ sources.reg.username | json }},"password":{{ sources.reg.password | json }},"auth":"{{ sources.reg.username | append: ":" | append: sources.reg.password | b64enc }}"}}}';
      await createSecretSync(
        env,
        secretSync(
          NS,
          'dsn',
          base({
            sources: [
              { name: 'db', kv: { path: 'shape/db' } },
              { name: 'reg', kv: { path: 'shape/registry' } },
            ],
            template: {
              data: {
                DATABASE_URL:
                  'postgres://{{ sources.db.user }}:{{ sources.db.password | url_encode }}@{{ sources.db.host }}:{{ sources.db.port }}/app',
                '.dockerconfigjson': dockerconfig,
              },
            },
            target: { name: 'dsn', type: 'kubernetes.io/dockerconfigjson' },
          }),
        ),
      );
      const ready = await waitReady(env, NS, 'dsn', 'True');
      expect(ready.status?.sourceVersions).toEqual([1, 1]);
      const data = decode((await getSecret(env, NS, 'dsn'))?.data);
      expect(Object.keys(data).sort()).toEqual(['.dockerconfigjson', 'DATABASE_URL']);
      expect(data.DATABASE_URL).toBe(`postgres://app:p%40ss+${CANARY_PW}@db.internal:5432/app`);
      const cfg = JSON.parse(data['.dockerconfigjson']!) as {
        auths: Record<string, { auth: string; password: string }>;
      };
      expect(cfg.auths['registry.example']!.password).toBe(CANARY_REG);
      expect(Buffer.from(cfg.auths['registry.example']!.auth, 'base64').toString()).toBe(`ci:${CANARY_REG}`);
    }),
  );

  it(
    'reads nested and array properties; an exact top-level key wins; a missing path is PropertyNotFound',
    track(async () => {
      await createSecretSync(
        env,
        secretSync(
          NS,
          'nested',
          base({
            vault: { kv: { path: 'shape/nested' } },
            data: [
              { secretKey: 'HOST1', property: 'config.db.hosts.1' },
              { secretKey: 'POOL', property: 'config.db.pool\\.size' },
              { secretKey: 'FLAGS', property: 'config.flags' },
              { secretKey: 'DOTTED', property: 'dotted.key' },
              { secretKey: 'INNER', property: 'secret.inner' },
            ],
            target: { name: 'nested' },
          }),
        ),
      );
      await waitReady(env, NS, 'nested', 'True');
      expect(decode((await getSecret(env, NS, 'nested'))?.data)).toEqual({
        HOST1: 'h1',
        POOL: '10',
        FLAGS: '{"beta":true}',
        DOTTED: 'top-level wins',
        INNER: CANARY_NESTED,
      });
      await patchSecretSync(env, NS, 'nested', {
        spec: { data: [{ secretKey: 'HOST9', property: 'config.db.hosts.9' }] },
      });
      const failedSync = await waitReady(env, NS, 'nested', 'False', 'PropertyNotFound');
      expect(failedSync.status?.conditions?.[0]?.message).toContain('config.db.hosts.9');
      expect(decode((await getSecret(env, NS, 'nested'))?.data).INNER).toBe(CANARY_NESTED); // untouched
    }),
  );

  it(
    'merges several sources: later all-keys win, picks win; all keys reshaped with rewrite, prefix and Base64',
    track(async () => {
      await createSecretSync(
        env,
        secretSync(
          NS,
          'merged',
          base({
            sources: [
              { kv: { path: 'shape/defaults' } },
              { kv: { path: 'shape/overrides' } },
              { kv: { path: 'shape/db' }, data: [{ secretKey: 'FEATURE', property: 'host' }] },
              {
                kv: { path: 'shape/encoded' },
                allKeys: {
                  prefix: 'ENC_',
                  rewrite: [
                    { regex: '-', replacement: '_' },
                    { regex: '^(\\w+)_(\\w+)$', replacement: '${2}_$1' },
                  ],
                  decodingStrategy: 'Base64',
                },
              },
            ],
            target: { name: 'merged' },
            refresh: { interval: '2s' },
          }),
        ),
      );
      await waitReady(env, NS, 'merged', 'True');
      expect(decode((await getSecret(env, NS, 'merged'))?.data)).toEqual({
        LOG_LEVEL: 'debug',
        REGION: 'eu-1',
        FEATURE: 'db.internal',
        ENC_user_db: 'enc-user',
        ENC_pass_db: 'enc-pass',
        ENC_token_api: 'enc-token',
      });
      // A new version of the second source is picked up at the next refresh.
      await env.writeKv('shape/overrides', { LOG_LEVEL: 'trace' });
      await waitSecret(env, NS, 'merged', (s) => decode(s.data).LOG_LEVEL === 'trace', 60_000);
      let versions: unknown;
      for (let i = 0; i < 100 && JSON.stringify(versions) !== '[1,2,1,1]'; i++) {
        versions = (await getSecretSync(env, NS, 'merged'))?.status?.sourceVersions;
        await sleep(200);
      }
      expect(versions).toEqual([1, 2, 1, 1]);
    }),
  );

  const hostile: [string, string][] = [
    ['constructor', '{{ sources.db.password.constructor }}'],
    ['prototype', '{{ sources.__proto__ }}{{ password.__proto__.polluted }}'],
    ['include', '{% include "/etc/passwd" %}'],
    ['loop', '{% for i in (1..100000000) %}{% for j in (1..100000000) %}{{ password }}{% endfor %}{% endfor %}'],
    ['blowup', '{% assign s = password %}{% for i in (1..60) %}{% assign s = s | append: s %}{% endfor %}{{ s }}'],
  ];

  it.each(hostile)(
    'a template that tries %s ends in TemplateError, the Secret intact and no value leaked',
    async (name, template) => {
      try {
        const sync = `hostile-${name}`;
        await createSecretSync(
          env,
          secretSync(
            NS,
            sync,
            base({
              sources: [{ name: 'db', kv: { path: 'shape/db' } }],
              template: { data: { out: '{{ password }}' }, mergePolicy: 'Merge' },
              target: { name: sync },
            }),
          ),
        );
        await waitReady(env, NS, sync, 'True');
        const before = await getSecret(env, NS, sync);
        await patchSecretSync(env, NS, sync, { spec: { template: { data: { out: template } } } });
        const bad = await waitReady(env, NS, sync, 'False', 'TemplateError', 60_000);
        const message = bad.status?.conditions?.[0]?.message ?? '';
        const after = await getSecret(env, NS, sync);
        expect(after?.data).toEqual(before?.data);
        expect(after?.metadata.resourceVersion).toBe(before?.metadata.resourceVersion);
        const events = (await eventsFor(env, NS, sync)).map((e) => e.message).join('\n');
        const logs = Object.values(env.logs()).join('\n');
        for (const canary of CANARIES) {
          expect(message).not.toContain(canary);
          expect(events).not.toContain(canary);
          expect(logs).not.toContain(canary);
        }
      } catch (err) {
        failed = true;
        throw err;
      }
    },
    120_000,
  );
});
