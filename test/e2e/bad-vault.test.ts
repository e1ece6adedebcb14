/**
 * Vault answering badly. Real OpenBao gives the data-shaped cases (non-string values, binary,
 * empty data, deleted and destroyed versions, over 1 MiB, keys that cannot be Secret keys or env
 * var names, a KV v1 mount); a misbehaving Vault-API peer on 127.0.0.1 gives the rest (HTTP
 * errors, garbage, truncated and oversize bodies, hangs, resets). Each case starts from a synced
 * Secret: the bad answer must give a clear reason, write nothing, crash nothing, and the next good
 * answer must bring the SecretSync back.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, must } from '../env/http.js';
import { TestEnv } from '../env/testenv.js';
import { figure, mapLimit, metric, scrape, tracked } from './bulk.js';
import { assertNoCanaries } from './canary.js';
import {
  createSecretSync,
  decode,
  deleteSecretSync,
  eventsFor,
  getSecret,
  readyOf,
  secretSync,
  sleep,
  waitReady,
  type SecretObject,
} from './helpers.js';
import { CountingListener, MisbehavingVault, type Mode } from './misbehaving-vault.js';

const NS = 'bv';
/** Another tenant, whose SecretSyncs must sync while bv's Vault trickles. */
const OTHER = 'bv-other';
let env: TestEnv;
let url = '';
let mb: MisbehavingVault;
/** Where the misbehaving server redirects: it must never see a connection. */
let elsewhere: CountingListener;
let failed = true;
const planted: string[] = [];
const track = tracked(() => {
  failed = true;
});

const plant = (value: string) => {
  planted.push(value);
  return value;
};

const spec = (path: string, over: Record<string, unknown> = {}) => ({
  vault: { kv: { path } },
  auth: { kubernetes: { role: 'bv', serviceAccountName: 'app' } },
  target: {},
  refresh: { interval: '1s' },
  ...over,
});

interface MbCase {
  mode: Mode;
  reason: string;
  hint: string[];
}

const mbCases: MbCase[] = [
  { mode: 'status500-garbage', reason: 'VaultUnavailable', hint: ['HTTP 500', 'will retry'] },
  { mode: 'status502-html', reason: 'VaultUnavailable', hint: ['HTTP 502'] },
  { mode: 'status429', reason: 'VaultUnavailable', hint: ['HTTP 429', 'request rate limited'] },
  { mode: 'status403', reason: 'VaultForbidden', hint: ['permission denied', "check the role's policy"] },
  { mode: 'status500-echoes-token', reason: 'VaultUnavailable', hint: ['[redacted]'] },
  { mode: 'status404-garbage', reason: 'VaultPathNotFound', hint: ['HTTP 404', 'check the KV v2 mount and path'] },
  { mode: 'garbage200', reason: 'BadVaultData', hint: ['not a JSON object'] },
  { mode: 'truncated200', reason: 'BadVaultData', hint: ['not a JSON object'] },
  { mode: 'array200', reason: 'BadVaultData', hint: ['not a JSON object'] },
  { mode: 'no-data200', reason: 'BadVaultData', hint: ['no data object', 'KV version 2 mount'] },
  { mode: 'data-string200', reason: 'BadVaultData', hint: ['data.data is not an object'] },
  { mode: 'bad-version200', reason: 'BadVaultData', hint: ['metadata.version'] },
  { mode: 'html200', reason: 'BadVaultData', hint: ['not a JSON object'] },
  { mode: 'huge200', reason: 'SecretTooLarge', hint: ["over the API server's limit of 1048576"] },
  // 48 MiB: not read past 4 MiB (a SecretSync author chooses the address; memory must stay bounded).
  {
    mode: 'giant200',
    reason: 'BadVaultData',
    hint: ['more data than any Secret can hold', 'check spec.vault.address'],
  },
  // Refused, not inflated: Vault never compresses (vaultsync asks for no encoding).
  { mode: 'gzip-bomb200', reason: 'BadVaultData', hint: ['the answer is compressed (gzip)'] },
  { mode: 'hang', reason: 'VaultUnavailable', hint: ['ETIMEDOUT'] },
  { mode: 'reset', reason: 'VaultUnavailable', hint: ['Could not reach Vault'] },
  // Headers, then a byte a second: never idle as long as --vault-timeout (2s), ended by its one deadline.
  { mode: 'trickle', reason: 'VaultUnavailable', hint: ['ETIMEDOUT', 'no complete answer within 2000 ms'] },
  // A 307 to another local server (not allowed), and to https on the same host and port.
  {
    mode: 'redirect-elsewhere',
    reason: 'VaultRedirectRefused',
    hint: ['answered HTTP 307, a redirect to an address not in --vault-allowed-addresses', 'it was not followed'],
  },
  { mode: 'redirect-scheme', reason: 'VaultRedirectRefused', hint: ['a redirect from http to another scheme'] },
];

const mbName = (mode: string) => `mb-${mode}`;

beforeAll(async () => {
  env = await TestEnv.start();
  failed = true;
  await env.createServiceAccount(NS, 'app');
  await must(env.vault, 'POST', '/v1/sys/mounts/kv1', { type: 'kv', options: { version: '1' } });
  await env.policy(
    'bv-read',
    ['path "secret/data/bv/*" { capabilities = ["read"] }', 'path "kv1/*" { capabilities = ["read"] }'].join('\n'),
  );
  await env.role('bv', { serviceAccounts: ['app'], namespaces: [NS], policies: ['bv-read'] });
  await env.createServiceAccount(OTHER, 'app');
  await env.role('bv-other', { serviceAccounts: ['app'], namespaces: [OTHER], policies: ['bv-read'] });
  mb = await MisbehavingVault.start(env.vaultAddr);
  elsewhere = await CountingListener.start();
  mb.redirectTo = elsewhere.url;
  // The misbehaving server is an address the operator allowed; where it redirects is not.
  ({ url } = await env.startController([
    `--namespaces=${NS},${OTHER}`,
    '--vault-timeout=2s',
    `--vault-allowed-addresses=${mb.url}`,
  ]));
  // Every misbehaving case starts from a Secret synced from a good answer.
  await mapLimit(mbCases, 4, async ({ mode }) => {
    await createSecretSync(
      env,
      secretSync(NS, mbName(mode), spec(`mb/${mode}`, { vault: { address: mb.url, kv: { path: `mb/${mode}` } } })),
    );
    await waitReady(env, NS, mbName(mode), 'True', 'Synced', 60_000);
  });
  failed = false;
}, 240_000);

afterAll(async () => {
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- undefined when beforeAll failed
  await mb?.close();
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- undefined when beforeAll failed
  await elsewhere?.close();
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- undefined when beforeAll failed
  await env?.stop(failed);
});

/** Waits for Ready=False with `reason`, checks the message and that the Secret is exactly as before. */
async function expectRefused(name: string, before: SecretObject | undefined, reason: string, hint: string[]) {
  const ss = await waitReady(env, NS, name, 'False', reason, 30_000);
  const message = readyOf(ss)?.message ?? '';
  for (const h of hint) expect(message).toContain(h);
  const after = await getSecret(env, NS, name);
  expect(after?.metadata.resourceVersion).toBe(before?.metadata.resourceVersion);
  expect(after?.data).toEqual(before?.data);
  expect((await eventsFor(env, NS, name)).some((e) => e.type === 'Warning' && e.reason === reason)).toBe(true);
  return message;
}

describe('a misbehaving Vault-API peer (spec.vault.address)', () => {
  it.each(mbCases)(
    '$mode → $reason, nothing written, back when Vault answers well again',
    async ({ mode, reason, hint }) => {
      try {
        const name = mbName(mode);
        const before = await getSecret(env, NS, name);
        expect(decode(before?.data).value).toBe(MisbehavingVault.goodValue(`mb/${mode}`, 1));
        const rssBefore = metric(await scrape(url), 'process_resident_memory_bytes');
        mb.modes.set(`mb/${mode}`, mode);
        const message = await expectRefused(name, before, reason, hint);
        if (mode === 'status500-echoes-token') for (const t of mb.seenTokens) expect(message).not.toContain(t);
        if (mode === 'giant200' || mode === 'gzip-bomb200') {
          const rss = metric(await scrape(url), 'process_resident_memory_bytes');
          figure(`bad_vault.${mode}_rss_before_MiB`, rssBefore / 2 ** 20, 'MiB');
          figure(`bad_vault.${mode}_rss_after_MiB`, rss / 2 ** 20, 'MiB');
          // Bounded: far less than the answer's 48 MiB (unbounded, RSS grew by about 400 MiB).
          expect(rss - rssBefore).toBeLessThan(48 * 2 ** 20);
        }
        mb.modes.set(`mb/${mode}`, 'good');
        await waitReady(env, NS, name, 'True', 'Synced', 30_000);
        // Same version, same data: the recovery writes nothing either.
        expect((await getSecret(env, NS, name))?.metadata.resourceVersion).toBe(before?.metadata.resourceVersion);
        planted.push(MisbehavingVault.goodValue(`mb/${mode}`, 1));
      } catch (err) {
        failed = true;
        throw err;
      }
    },
  );

  it(
    'a redirect of the login POST to another local server: it gets no connection, so no JWT',
    track(async () => {
      // A ServiceAccount of its own, so this SecretSync needs a login of its own.
      await env.createServiceAccount(NS, 'redirected');
      await env.role('bv-redirected', { serviceAccounts: ['redirected'], namespaces: [NS], policies: ['bv-read'] });
      mb.redirectLogins = true;
      try {
        await createSecretSync(
          env,
          secretSync(NS, 'mb-login-redirect', {
            ...spec('mb/login-redirect', { vault: { address: mb.url, kv: { path: 'mb/login-redirect' } } }),
            auth: { kubernetes: { role: 'bv-redirected', serviceAccountName: 'redirected' } },
          }),
        );
        const ss = await waitReady(env, NS, 'mb-login-redirect', 'False', 'VaultRedirectRefused', 30_000);
        expect(readyOf(ss)?.message).toContain('login as role bv-redirected');
        expect(await getSecret(env, NS, 'mb-login-redirect')).toBeUndefined();
      } finally {
        mb.redirectLogins = false;
      }
      // Neither this login nor any redirected read above reached the other server.
      expect(elsewhere.accepts).toBe(0);
      expect(elsewhere.bytes).toBe(0);
    }),
  );

  it(
    'ten SecretSyncs whose Vault trickles do not hold the workers: another namespace syncs, /healthz stays 200',
    track(async () => {
      const tricklers = Array.from({ length: 10 }, (_, i) => `mb-trickle-${i}`);
      for (let i = 0; i < tricklers.length; i++) mb.modes.set(`mb/trickle-${i}`, 'trickle');
      await env.writeKv('bv/other', { value: plant('bv-canary-other-1a2b3c4d') });
      const t0 = Date.now();
      await mapLimit(tricklers, 10, (name, i) =>
        createSecretSync(
          env,
          secretSync(
            NS,
            name,
            spec(`mb/trickle-${i}`, { vault: { address: mb.url, kv: { path: `mb/trickle-${i}` } } }),
          ),
        ),
      );
      // While they trickle (each held until its 2 s deadline, then retried), another tenant syncs.
      await createSecretSync(
        env,
        secretSync(OTHER, 'other', {
          ...spec('bv/other'),
          auth: { kubernetes: { role: 'bv-other', serviceAccountName: 'app' } },
        }),
      );
      const health: number[] = [];
      const probe = setInterval(() => {
        void call({ url }, 'GET', '/healthz').then(
          (r) => health.push(r.status),
          () => health.push(0),
        );
      }, 250);
      try {
        await waitReady(env, OTHER, 'other', 'True', 'Synced', 30_000);
        const otherMs = Date.now() - t0;
        figure('bad_vault.other_namespace_synced_while_10_trickle_ms', otherMs, 'ms');
        for (const name of tricklers) {
          const ss = await waitReady(env, NS, name, 'False', 'VaultUnavailable', 30_000);
          expect(readyOf(ss)?.message).toContain('ETIMEDOUT');
        }
        figure('bad_vault.all_10_tricklers_timed_out_ms', Date.now() - t0, 'ms');
        expect(otherMs).toBeLessThan(15_000);
        await sleep(3_000); // several deadlines and retries of all ten
      } finally {
        clearInterval(probe);
      }
      figure('bad_vault.healthz_probes_while_trickling', health.length);
      expect(health.length).toBeGreaterThan(10);
      expect(health.every((s) => s === 200)).toBe(true);
      for (const name of tricklers) await deleteSecretSync(env, NS, name);
    }),
  );

  it(
    'refuses a Vault key __proto__ (it would be dropped from the Secret at every write), and reads it under another name',
    track(async () => {
      const name = 'mb-proto';
      await createSecretSync(
        env,
        secretSync(NS, name, spec('mb/proto', { vault: { address: mb.url, kv: { path: 'mb/proto' } } })),
      );
      await waitReady(env, NS, name, 'True', 'Synced');
      const before = await getSecret(env, NS, name);
      mb.versions.set('mb/proto', 2);
      mb.modes.set('mb/proto', 'proto200');
      await expectRefused(name, before, 'InvalidSecretKey', ['"__proto__"', 'pick keys with spec.data']);
      // Picked under another name, the same answer syncs, with every key.
      const picked = 'mb-proto-picked';
      await createSecretSync(
        env,
        secretSync(NS, picked, {
          ...spec('mb/proto', { vault: { address: mb.url, kv: { path: 'mb/proto' } } }),
          data: [
            { secretKey: 'PROTO', property: '__proto__' },
            { secretKey: 'CTOR', property: 'constructor' },
            { secretKey: 'value', property: 'value' },
          ],
        }),
      );
      await waitReady(env, NS, picked, 'True', 'Synced');
      const s = await getSecret(env, NS, picked);
      expect(decode(s?.data)).toEqual({ PROTO: '{"polluted":"yes"}', CTOR: 'c', value: 'p' });
      // Written once, not at every refresh.
      const rv = s?.metadata.resourceVersion;
      await sleep(3_000);
      expect((await getSecret(env, NS, picked))?.metadata.resourceVersion).toBe(rv);
    }),
  );
});

describe('what real OpenBao can hold', () => {
  it(
    'non-string values and nested objects render as JSON text; binary-ish strings byte for byte',
    track(async () => {
      const text = plant('bv-canary-string-0a1b2c3d');
      const bin = '\u0000\u0001\u007f\u00ff\ud83d\ude00 \t\r\n\\"end';
      await env.writeKv('bv/values', {
        text,
        n: 42,
        f: 3.5,
        yes: true,
        nothing: null,
        nested: { a: { b: [1, 'x', { c: null }] } },
        list: [1, 2],
        bin,
      });
      await createSecretSync(env, secretSync(NS, 'values', spec('bv/values')));
      await waitReady(env, NS, 'values', 'True', 'Synced');
      const s = await getSecret(env, NS, 'values');
      expect(decode(s?.data)).toEqual({
        text,
        n: '42',
        f: '3.5',
        yes: 'true',
        nothing: 'null',
        nested: '{"a":{"b":[1,"x",{"c":null}]}}',
        list: '[1,2]',
        bin,
      });
      expect(Buffer.from(s?.data?.bin ?? '', 'base64').equals(Buffer.from(bin, 'utf8'))).toBe(true);
    }),
  );

  it(
    'keys that are not env var names are written with a warning event',
    track(async () => {
      await env.writeKv('bv/env', {
        'tls.crt': plant('bv-canary-cert-1e2f3a4b'),
        'with-dash': 'd',
        '1abc': 'n',
        OK: 'ok',
      });
      await createSecretSync(env, secretSync(NS, 'env', spec('bv/env')));
      await waitReady(env, NS, 'env', 'True', 'Synced');
      expect(Object.keys((await getSecret(env, NS, 'env'))?.data ?? {}).sort()).toEqual([
        '1abc',
        'OK',
        'tls.crt',
        'with-dash',
      ]);
      const warning = (await eventsFor(env, NS, 'env')).find((e) => e.reason === 'KeysNotEnvVarNames');
      expect(warning?.type).toBe('Warning');
      for (const k of ['tls.crt', 'with-dash', '1abc']) expect(warning?.message).toContain(k);
      expect(warning?.message).not.toMatch(/\bOK\b/);
    }),
  );

  /** Sync a good version, make Vault bad, expect a refusal that writes nothing. */
  const twoPhase: {
    name: string;
    over?: Record<string, unknown>;
    bad: (path: string) => Promise<unknown>;
    reason: string;
    hint: string[];
  }[] = [
    {
      name: 'empty',
      bad: (p) => env.writeKv(p, {}),
      reason: 'BadVaultData',
      hint: ['has no keys', 'bv/empty version 2'],
    },
    {
      name: 'deleted',
      bad: (p) => must(env.vault, 'DELETE', `/v1/secret/data/${p}`),
      reason: 'VaultPathNotFound',
      hint: ['bv/deleted version 1 is deleted', 'undelete it'],
    },
    {
      name: 'destroyed',
      over: { vault: { kv: { path: 'bv/destroyed', version: 1 } } },
      bad: (p) => must(env.vault, 'PUT', `/v1/secret/destroy/${p}`, { versions: [1] }),
      reason: 'VaultPathNotFound',
      hint: ['bv/destroyed version 1 is destroyed'],
    },
    {
      name: 'huge',
      bad: (p) => env.writeKv(p, { value: 'x'.repeat(1_100_000) }),
      reason: 'SecretTooLarge',
      hint: ['Secret huge would be about', "over the API server's limit of 1048576", 'select fewer keys'],
    },
    {
      name: 'bad-keys',
      bad: (p) => env.writeKv(p, { 'bad key': 'x', ok: 'y' }),
      reason: 'InvalidSecretKey',
      hint: ['"bad key"', 'cannot be a Secret key', 'pick keys with spec.data'],
    },
    {
      name: 'slash-key',
      bad: (p) => env.writeKv(p, { 'a/b': 'x' }),
      reason: 'InvalidSecretKey',
      hint: ['"a/b"'],
    },
  ];

  it.each(twoPhase)('$name → $reason, the Secret stays as it was', async ({ name, over, bad, reason, hint }) => {
    try {
      const path = `bv/${name}`;
      await env.writeKv(path, { value: plant(`bv-canary-${name}-5f6a7b8c`) });
      await createSecretSync(env, secretSync(NS, name, spec(path, over)));
      await waitReady(env, NS, name, 'True', 'Synced');
      const before = await getSecret(env, NS, name);
      expect(decode(before?.data).value).toContain('bv-canary');
      await bad(path);
      await expectRefused(name, before, reason, hint);
    } catch (err) {
      failed = true;
      throw err;
    }
  });

  it(
    'a KV version 1 mount is refused as not KV v2',
    track(async () => {
      await must(env.vault, 'POST', '/v1/kv1/data/app', { value: plant('bv-canary-kv1-9d8c7b6a') });
      await createSecretSync(env, secretSync(NS, 'kv1', spec('app', { vault: { kv: { mount: 'kv1', path: 'app' } } })));
      const ss = await waitReady(env, NS, 'kv1', 'False', 'BadVaultData');
      expect(readyOf(ss)?.message).toContain('check that kv1 is a KV version 2 mount');
      expect(await getSecret(env, NS, 'kv1')).toBeUndefined();
    }),
  );

  it(
    'the controller is alive and healthy after all of it, and nothing leaked',
    track(async () => {
      expect((await call({ url }, 'GET', '/healthz')).status).toBe(200);
      const m = await scrape(url);
      figure('bad_vault.rss_at_end_MiB', metric(m, 'process_resident_memory_bytes') / 2 ** 20, 'MiB');
      expect(mb.seenTokens.size).toBeGreaterThan(0);
      expect(mb.seenJwts.size).toBeGreaterThan(0);
      await assertNoCanaries(env, {
        canaries: [...planted, ...mb.seenTokens, ...mb.seenJwts],
        metricsUrls: [url],
      });
    }),
  );
});
