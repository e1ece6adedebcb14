/**
 * Security on the real environment: tenant isolation (checked against OpenBao's audit log, which
 * records the identity behind every request), the controller's own identity, the webhook under
 * abuse while syncing goes on, and — last — a leak check of everything the controller produced.
 */
import { createHmac } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call } from '../env/http.js';
import { CONTROLLER_NAMESPACE, CONTROLLER_SA, ISSUER, TestEnv } from '../env/testenv.js';
import { figure, metric, scrape, tracked } from './bulk.js';
import { assertNoCanaries } from './canary.js';
import { createSecretSync, decode, getSecret, readyOf, secretSync, sleep, waitReady, waitSecret } from './helpers.js';
import { CountingListener, MisbehavingVault } from './misbehaving-vault.js';
import { auditHcl, auditLogins, auditRequests } from './vault-audit.js';

const A = 'sec-a';
const B = 'sec-b';
const CTL = 'sec-ctl';
const KEY = 'sec-webhook-global-key-7c1d9e0f2a3b';
const NS_KEY_B = 'sec-webhook-team-b-key-4e5f6a7b8c9d';
const CANARY_A = 'sec-canary-only-a-6b2e8f10';
const CANARY_SHARED = 'sec-canary-shared-90d1c3a4';
const CANARY_CTL = 'sec-canary-controller-2f7e5d3c';

let env: TestEnv;
/** A server of a SecretSync author's, which the operator allowed as an address (it captures JWTs and tokens). */
let capture: MisbehavingVault;
/** Where `capture` redirects, and an address no SecretSync may use: it must see no connection at all. */
let elsewhere: CountingListener;
let auditDir = '';
let auditFile = '';
let url = '';
let ctlUrl = '';
let failed = true;
const webhookAnswers: string[] = [];
const requestedTokens: string[] = [];
const track = tracked(() => {
  failed = true;
});

beforeAll(async () => {
  // The audit log's path goes into OpenBao's configuration, so it exists before the environment does.
  auditDir = mkdtempSync(join(tmpdir(), 'vaultsync-sec-audit-'));
  auditFile = join(auditDir, 'audit.log');
  env = await TestEnv.start({ vaultHcl: auditHcl(auditFile) });
  failed = true;
  for (const ns of [A, B, CTL]) await env.createServiceAccount(ns, 'app');
  await env.createServiceAccount(A, 'only-a');
  await env.policy('sec-shared', 'path "secret/data/sec/shared" { capabilities = ["read"] }');
  await env.policy('sec-a', 'path "secret/data/sec/a/*" { capabilities = ["read"] }');
  await env.policy('sec-ctl', 'path "secret/data/sec/ctl" { capabilities = ["read"] }');
  await env.role('role-a', { serviceAccounts: ['app', 'only-a'], namespaces: [A], policies: ['sec-shared', 'sec-a'] });
  await env.role('role-b', { serviceAccounts: ['app'], namespaces: [B], policies: ['sec-shared'] });
  await env.role('role-ctl-app', { serviceAccounts: ['app'], namespaces: [CTL], policies: ['sec-ctl'] });
  // The controller's own ServiceAccount may read sec/a: only a controller allowed to use it can.
  await env.role('controller-role', {
    serviceAccounts: [CONTROLLER_SA],
    namespaces: [CONTROLLER_NAMESPACE],
    policies: ['sec-a', 'sec-ctl'],
  });
  await env.writeKv('sec/a/secret', { value: CANARY_A });
  await env.writeKv('sec/shared', { value: CANARY_SHARED });
  await env.writeKv('sec/ctl', { value: CANARY_CTL });
  await env.writeKv('sec/a/tick', { value: 'tick-0' });
  const keyFile = join(env.dir, 'webhook.key');
  writeFileSync(keyFile, `${KEY}\n`, { mode: 0o600 });
  const nsKeys = join(env.dir, 'ns-keys');
  mkdirSync(nsKeys);
  writeFileSync(join(nsKeys, B), NS_KEY_B);
  capture = await MisbehavingVault.start(env.vaultAddr);
  elsewhere = await CountingListener.start();
  capture.redirectTo = elsewhere.url;
  // A read is shared for up to 60 s within one identity: a cache shared across identities would show.
  ({ url } = await env.startController([
    `--namespaces=${A},${B}`,
    `--vault-allowed-addresses=${capture.url}`,
    '--vault-read-cache-ttl=60s',
    `--webhook-key-file=${keyFile}`,
    `--webhook-namespace-keys-dir=${nsKeys}`,
  ]));
  requestedTokens.push(await env.tokenFor(A, 'app', ['vault'], 600), await env.tokenFor(B, 'app', ['vault'], 600));
  failed = false;
}, 180_000);

afterAll(async () => {
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- undefined when beforeAll failed
  await capture?.close();
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- undefined when beforeAll failed
  await elsewhere?.close();
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- undefined when beforeAll failed
  await env?.stop(failed);
  if (failed) process.stderr.write(`Vault audit log kept: ${auditFile}\n`);
  else rmSync(auditDir, { recursive: true, force: true });
});

const spec = (path: string, role: string, sa: string | undefined, over: Record<string, unknown> = {}) => ({
  vault: { kv: { path } },
  auth: { kubernetes: { role, ...(sa === undefined ? {} : { serviceAccountName: sa }) } },
  target: {},
  refresh: { interval: '1h' },
  ...over,
});

/** A SecretSync in A that reads `path` through the author's own server, `capture`. */
const viaCapture = (name: string, path: string, role: string, sa: string) =>
  createSecretSync(env, secretSync(A, name, spec(path, role, sa, { vault: { address: capture.url, kv: { path } } })));

const readsOf = (path: string, serviceAccount: string) =>
  auditRequests(auditFile).filter(
    (r) => r.path === path && r.operation === 'read' && r.serviceAccount === serviceAccount,
  ).length;

describe('tenant isolation', () => {
  it(
    "a SecretSync in B that names A's ServiceAccount gets nothing",
    track(async () => {
      await createSecretSync(env, secretSync(B, 'steal-sa', spec('sec/a/secret', 'role-a', 'only-a')));
      await waitReady(env, B, 'steal-sa', 'False', 'ServiceAccountTokenFailed');
      expect(await getSecret(env, B, 'steal-sa')).toBeUndefined();
      // The ServiceAccount is looked up in B, where it does not exist: no login as A's account happened.
      expect(auditLogins(auditFile).filter((l) => l.serviceAccount === `${A}/only-a`)).toEqual([]);
    }),
  );

  it(
    'a SecretSync in B that names a Vault role bound to A gets nothing',
    track(async () => {
      await createSecretSync(env, secretSync(B, 'steal-role', spec('sec/a/secret', 'role-a', 'app')));
      await waitReady(env, B, 'steal-role', 'False', 'VaultAuthFailed');
      expect(await getSecret(env, B, 'steal-role')).toBeUndefined();
      expect(readsOf('secret/data/sec/a/secret', `${B}/app`)).toBe(0);
    }),
  );

  it(
    "B never gets A's cached read of a path B may not read",
    track(async () => {
      await createSecretSync(env, secretSync(A, 'own', spec('sec/a/secret', 'role-a', 'app')));
      await waitReady(env, A, 'own', 'True');
      // Within A's read-cache lifetime (60 s), B asks for the same path with its own identity.
      await createSecretSync(env, secretSync(B, 'same-path', spec('sec/a/secret', 'role-b', 'app')));
      await waitReady(env, B, 'same-path', 'False', 'VaultForbidden');
      expect(await getSecret(env, B, 'same-path')).toBeUndefined();
      expect(decode((await getSecret(env, A, 'own'))?.data).value).toBe(CANARY_A);
    }),
  );

  it(
    'two namespaces reading one path with different identities never share a read; one identity does',
    track(async () => {
      const path = 'secret/data/sec/shared';
      await createSecretSync(env, secretSync(A, 'shared-1', spec('sec/shared', 'role-a', 'app')));
      await waitReady(env, A, 'shared-1', 'True');
      await createSecretSync(env, secretSync(B, 'shared-1', spec('sec/shared', 'role-b', 'app')));
      await waitReady(env, B, 'shared-1', 'True');
      // A second reader with A's identity, inside the cache lifetime: served from A's read.
      await createSecretSync(env, secretSync(A, 'shared-2', spec('sec/shared', 'role-a', 'app')));
      await waitReady(env, A, 'shared-2', 'True');
      for (const [ns, name] of [
        [A, 'shared-1'],
        [B, 'shared-1'],
        [A, 'shared-2'],
      ] as const) {
        expect(decode((await getSecret(env, ns, name))?.data).value).toBe(CANARY_SHARED);
      }
      const readsA = readsOf(path, `${A}/app`);
      const readsB = readsOf(path, `${B}/app`);
      figure('security.vault_reads_of_shared_path_by_A', readsA);
      figure('security.vault_reads_of_shared_path_by_B', readsB);
      expect(readsA).toBe(1);
      expect(readsB).toBe(1);
      const logins = auditLogins(auditFile);
      expect(logins.some((l) => l.serviceAccount === `${A}/app` && l.role === 'role-a')).toBe(true);
      expect(logins.some((l) => l.serviceAccount === `${B}/app` && l.role === 'role-b')).toBe(true);
    }),
  );
});

describe('what a SecretSync author can make the controller send', () => {
  const payload = (jwt: string) =>
    JSON.parse(Buffer.from(jwt.split('.')[1] ?? '', 'base64url').toString('utf8')) as { aud: string[]; sub: string };

  it(
    'no token for an audience the operator did not allow, not even to a server of their choosing',
    track(async () => {
      // The author controls spec.vault.address and spec.auth.kubernetes.audiences: with the API
      // server's audience, the login JWT would be a Kubernetes API token for any ServiceAccount of
      // their namespace, delivered to their own server.
      {
        const at = (over: Record<string, unknown>) => ({
          vault: { address: capture.url, kv: { path: 'sec/a/secret' } },
          ...over,
        });
        await createSecretSync(
          env,
          secretSync(
            A,
            'exfil',
            spec('sec/a/secret', 'role-a', 'app', {
              ...at({}),
              auth: { kubernetes: { role: 'role-a', serviceAccountName: 'app', audiences: [ISSUER] } },
            }),
          ),
        );
        const ss = await waitReady(env, A, 'exfil', 'False', 'InvalidSpec');
        expect(readyOf(ss)?.message).toContain('--token-audiences');
        expect(capture.seenJwts.size).toBe(0);
        // What such a server does get: a token for the allowed audience only, which the Vault role checks.
        await createSecretSync(env, secretSync(A, 'elsewhere', spec('sec/a/secret', 'role-a', 'app', at({}))));
        await waitReady(env, A, 'elsewhere', 'True');
        expect([...capture.seenJwts].map((j) => payload(j).aud)).toEqual([['vault']]);
        requestedTokens.push(...capture.seenJwts, ...capture.seenTokens);
      }
    }),
  );

  it(
    'no request at all to an address the operator did not allow, and one reason whatever is there',
    track(async () => {
      // A listener (open), a closed port, a black-hole address and cloud metadata: a port scanner
      // would tell them apart by the answer. The controller does not even try.
      const closed = await CountingListener.start();
      const closedUrl = closed.url;
      await closed.close();
      const targets = [elsewhere.url, closedUrl, 'http://10.255.255.1:8200', 'http://169.254.169.254'];
      const messages = new Set<string>();
      for (const [i, address] of targets.entries()) {
        await createSecretSync(
          env,
          secretSync(
            A,
            `not-allowed-${i}`,
            spec('sec/a/secret', 'role-a', 'app', { vault: { address, kv: { path: 'sec/a/secret' } } }),
          ),
        );
      }
      for (let i = 0; i < targets.length; i++) {
        const ss = await waitReady(env, A, `not-allowed-${i}`, 'False', 'VaultAddressNotAllowed');
        messages.add(readyOf(ss)?.message ?? '');
        expect(await getSecret(env, A, `not-allowed-${i}`)).toBeUndefined();
      }
      expect([...messages]).toHaveLength(1);
      expect([...messages][0]).toContain('--vault-allowed-addresses');
      expect(elsewhere.accepts).toBe(0);
      // Terminal, and no TokenRequest either: no login of A's ServiceAccount happened for them.
      await sleep(2_000);
      expect(elsewhere.accepts).toBe(0);
    }),
  );

  it(
    'a redirect of the login POST or of a read to another local server sends it nothing: no JWT, no X-Vault-Token',
    track(async () => {
      const jwtsBefore = capture.seenJwts.size;
      // The login: a ServiceAccount not yet logged in, so a login is made, and capture redirects it.
      await env.createServiceAccount(A, 'redirected');
      await env.role('role-a-redirected', { serviceAccounts: ['redirected'], namespaces: [A], policies: ['sec-a'] });
      capture.redirectLogins = true;
      try {
        await viaCapture('login-redirect', 'sec/a/secret', 'role-a-redirected', 'redirected');
        await waitReady(env, A, 'login-redirect', 'False', 'VaultRedirectRefused');
      } finally {
        capture.redirectLogins = false;
      }
      // The read: an identity that logged in (through capture, to the real Vault) has its read redirected.
      capture.modes.set('sec/a/redirected', 'redirect-elsewhere');
      await viaCapture('read-redirect', 'sec/a/redirected', 'role-a', 'app');
      const ss = await waitReady(env, A, 'read-redirect', 'False', 'VaultRedirectRefused');
      expect(readyOf(ss)?.message).toContain('read of secret/sec/a/redirected');
      expect(readyOf(ss)?.message).not.toContain(elsewhere.url);
      expect(capture.reads.get('sec/a/redirected')).toBeGreaterThan(0);
      expect(elsewhere.accepts).toBe(0);
      expect(elsewhere.bytes).toBe(0);
      requestedTokens.push(...[...capture.seenJwts].slice(jwtsBefore), ...capture.seenTokens);
    }),
  );
});

describe("the controller's own identity", () => {
  it(
    'is never used for a SecretSync unless the operator allowed it',
    track(async () => {
      await createSecretSync(env, secretSync(A, 'no-sa', spec('sec/a/secret', 'controller-role', undefined)));
      await waitReady(env, A, 'no-sa', 'False', 'InvalidSpec');
      expect(await getSecret(env, A, 'no-sa')).toBeUndefined();
      await sleep(1_000);
      const controllerSa = `${CONTROLLER_NAMESPACE}/${CONTROLLER_SA}`;
      expect(auditLogins(auditFile).filter((l) => l.serviceAccount === controllerSa)).toEqual([]);
      expect(auditRequests(auditFile).filter((r) => r.serviceAccount === controllerSa)).toEqual([]);

      // A controller the operator allowed: the same kind of SecretSync now reads as the controller,
      // and one that names a ServiceAccount still reads as that ServiceAccount.
      ({ url: ctlUrl } = await env.startController(
        [
          `--namespaces=${CTL}`,
          '--allow-controller-identity',
          '--controller-vault-role=controller-role',
          `--vault-allowed-addresses=${capture.url}`,
        ],
        'allowed',
      ));
      await createSecretSync(env, secretSync(CTL, 'no-sa', spec('sec/ctl', 'controller-role', undefined)));
      await createSecretSync(env, secretSync(CTL, 'with-sa', spec('sec/ctl', 'role-ctl-app', 'app')));
      await waitReady(env, CTL, 'no-sa', 'True');
      await waitReady(env, CTL, 'with-sa', 'True');
      expect(readsOf('secret/data/sec/ctl', controllerSa)).toBe(1);
      expect(readsOf('secret/data/sec/ctl', `${CTL}/app`)).toBe(1);
      expect(auditLogins(auditFile).some((l) => l.serviceAccount === controllerSa)).toBe(true);

      // Everything about that login is the operator's: another role, or an address of the author's
      // (even one the operator allowed for SecretSyncs with their own ServiceAccount), is refused.
      const jwtsBefore = capture.seenJwts.size;
      await createSecretSync(env, secretSync(CTL, 'other-role', spec('sec/ctl', 'role-ctl-app', undefined)));
      await createSecretSync(
        env,
        secretSync(
          CTL,
          'other-address',
          spec('sec/ctl', 'controller-role', undefined, { vault: { address: capture.url, kv: { path: 'sec/ctl' } } }),
        ),
      );
      await createSecretSync(
        env,
        secretSync(
          CTL,
          'other-mount',
          spec('sec/ctl', 'controller-role', undefined, {
            auth: { kubernetes: { role: 'controller-role', mount: 'elsewhere' } },
          }),
        ),
      );
      for (const [name, field] of [
        ['other-role', 'spec.auth.kubernetes.role'],
        ['other-address', 'spec.vault.address'],
        ['other-mount', 'spec.auth.kubernetes.mount'],
      ] as const) {
        const ss = await waitReady(env, CTL, name, 'False', 'InvalidSpec');
        expect(readyOf(ss)?.message).toContain(field);
        expect(await getSecret(env, CTL, name)).toBeUndefined();
      }
      expect(capture.seenJwts.size).toBe(jwtsBefore);
    }),
  );
});

describe('the webhook under abuse, while syncing goes on', () => {
  const now = () => Math.floor(Date.now() / 1000);
  const sign = (key: string, ts: number, body: string) =>
    `sha256=${createHmac('sha256', key).update(`${ts}.${body}`).digest('hex')}`;
  const post = async (headers: Record<string, string>, body: string, query = '') => {
    const r = await call({ url }, 'POST', `/v1/refresh${query}`, body, headers);
    webhookAnswers.push(r.text);
    return r.status;
  };
  const signed = (body: string, key = KEY, ts = now()) => ({
    'x-vaultsync-timestamp': String(ts),
    'x-vaultsync-signature': sign(key, ts, body),
  });
  const queued = async () => metric(await scrape(url), 'vaultsync_webhook_queued_total');

  it(
    'answers each bad request with its status code and queues nothing',
    track(async () => {
      await createSecretSync(
        env,
        secretSync(A, 'tick', spec('sec/a/tick', 'role-a', 'app', { refresh: { interval: '1s' } })),
      );
      await waitReady(env, A, 'tick', 'True');
      const body = JSON.stringify({ paths: ['secret/sec/shared'] });
      const q0 = await queued();
      const gh = createHmac('sha256', KEY).update(body).digest('hex');
      const cases: [string, () => Promise<number>, number][] = [
        ['no signature', () => post({}, body), 401],
        ['wrong key', () => post(signed(body, 'not-the-key-0123456789'), body), 401],
        [
          'malformed signature',
          () => post({ 'x-vaultsync-timestamp': String(now()), 'x-vaultsync-signature': 'sha256=zz' }, body),
          401,
        ],
        ['timestamp without signature', () => post({ 'x-vaultsync-timestamp': String(now()) }, body), 401],
        ['captured and replayed an hour later', () => post(signed(body, KEY, now() - 3600), body), 401],
        ['signed for another body', () => post(signed(body), JSON.stringify({ paths: ['secret/sec/a/secret'] })), 401],
        ['GitHub signature without delivery id', () => post({ 'x-hub-signature-256': `sha256=${gh}` }, body), 401],
        ['oversize body', () => post(signed('x'.repeat(100_000)), 'x'.repeat(100_000)), 413],
        ['malformed JSON, correctly signed', () => post(signed('{"paths": [secret'), '{"paths": [secret'), 400],
        ['wrong shape, correctly signed', () => post(signed('{"paths": "x"}'), '{"paths": "x"}'), 400],
        ['unsigned query parameters', () => post(signed(body), body, '?path=secret/sec/a/secret'), 400],
        [
          "a namespace key naming another namespace's SecretSync",
          () =>
            post(
              signed(JSON.stringify({ secretSyncs: [`${A}/own`] }), NS_KEY_B),
              JSON.stringify({ secretSyncs: [`${A}/own`] }),
            ),
          403,
        ],
      ];
      const got: Record<string, number> = {};
      for (const [name, send] of cases) got[name] = await send();
      expect(got).toEqual(Object.fromEntries(cases.map(([name, , status]) => [name, status])));
      expect(await queued()).toBe(q0);

      // A GitHub delivery is accepted once; the same delivery replayed is refused and queues nothing more.
      const ghHeaders = { 'x-hub-signature-256': `sha256=${gh}`, 'x-github-delivery': 'd-1' };
      expect(await post(ghHeaders, body)).toBe(202);
      const q1 = await queued();
      expect(q1).toBeGreaterThan(q0);
      expect(await post({ ...ghHeaders, 'x-github-delivery': 'd-2' }, body)).toBe(401);
      expect(await queued()).toBe(q1);
    }),
  );

  it(
    'a flood gets 401 and then 429, queues nothing, and syncing carries on meanwhile',
    track(async () => {
      const q0 = await queued();
      const body = JSON.stringify({ paths: ['secret/sec/shared'] });
      const flooding = { on: true };
      const statuses: Record<number, number> = {};
      const flood = (async () => {
        let n = 0;
        while (flooding.on) {
          const batch = await Promise.all(
            Array.from({ length: 20 }, () => post(signed(body, 'flood-wrong-key-0123456789'), body).catch(() => 0)),
          );
          for (const s of batch) statuses[s] = (statuses[s] ?? 0) + 1;
          n += batch.length;
        }
        return n;
      })();
      // Meanwhile Vault changes and the periodic sync (every 1 s) must still deliver it.
      const t0 = Date.now();
      await env.writeKv('sec/a/tick', { value: 'tick-1' });
      await waitSecret(env, A, 'tick', (s) => decode(s.data).value === 'tick-1', 15_000);
      const synced = Date.now() - t0;
      await sleep(3_000);
      flooding.on = false;
      const sent = await flood;
      figure('security.webhook_flood_requests', sent);
      figure('security.webhook_flood_401', statuses[401] ?? 0);
      figure('security.webhook_flood_429', statuses[429] ?? 0);
      figure('security.sync_during_flood_ms', synced, 'ms');
      expect(Object.keys(statuses).sort()).toEqual(['401', '429']);
      expect(statuses[429]).toBeGreaterThan(0);
      expect(await queued()).toBe(q0);
      expect(synced).toBeLessThan(10_000);
    }),
  );
});

describe('secrets stay secret', () => {
  it(
    'no canary or token in any log, event, status, metric or error message the controller produced',
    track(async () => {
      await assertNoCanaries(env, {
        canaries: [CANARY_A, CANARY_SHARED, CANARY_CTL, KEY, NS_KEY_B, ...requestedTokens],
        metricsUrls: [url, ctlUrl],
        extra: { 'webhook answers': webhookAnswers.join('\n') },
      });
    }),
  );
});
