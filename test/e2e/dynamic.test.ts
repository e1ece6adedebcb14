/**
 * Dynamic secrets against the real thing: OpenBao's database secrets engine minting PostgreSQL
 * users in a real PostgreSQL, and its PKI engine with a root CA. Credentials are proven by logging
 * in (SELECT 1), revocations by the role leaving pg_roles, renewals by sys/leases/lookup, and
 * certificates by node:crypto's X509Certificate against the root CA.
 */
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, must, waitFor } from '../env/http.js';
import type { Postgres } from '../env/postgres.js';
import {
  databasePolicy,
  databaseRole,
  deleteDatabaseRole,
  lookupLease,
  outstandingLeases,
  pkiPolicy,
  setupDatabase,
  setupPki,
  type PkiSetup,
} from '../env/dynamic.js';
import { CONTROLLER_NAMESPACE, TestEnv } from '../env/testenv.js';
import type { Proc } from '../env/process.js';
import {
  createSecretSync,
  decode,
  deleteSecretSync,
  eventsFor,
  getSecretSync,
  patchSecretSync,
  secretSync,
  waitReady,
  waitSecret,
} from './helpers.js';

const NS = 'team-db';
let env: TestEnv;
let pg: Postgres;
let pki: PkiSetup;
let controller: Proc;
let failed = true;
/** Every credential and lease id seen: none may appear in the controller's logs, status or events. */
const seen = new Set<string>();

const dbSync = (name: string, database: Record<string, unknown>, extra: Record<string, unknown> = {}) =>
  secretSync(NS, name, {
    sources: [{ database }],
    auth: { kubernetes: { role: 'db', serviceAccountName: 'app' } },
    target: { name },
    refresh: { interval: '1h' },
    ...extra,
  });

async function creds(name: string, pred: (c: Record<string, string>) => boolean = () => true) {
  const s = await waitSecret(env, NS, name, (x) => {
    const d = decode(x.data);
    return d.username !== undefined && pred(d);
  });
  const d = decode(s.data);
  seen.add(d.username ?? '');
  seen.add(d.password ?? '');
  return { username: d.username ?? '', password: d.password ?? '' };
}

/** The lease ids the controller's records hold for SecretSync `name` (read as an operator would). */
async function recordLeases(name: string): Promise<string[]> {
  const r = await must<{ items: { data?: { record?: string } }[] }>(
    env.kube,
    'GET',
    `/api/v1/namespaces/${CONTROLLER_NAMESPACE}/secrets?labelSelector=vaultsync.io/lease-record`,
  );
  const ids: string[] = [];
  for (const item of r.body.items) {
    const rec = JSON.parse(Buffer.from(item.data?.record ?? '', 'base64').toString('utf8')) as {
      key: string;
      slots: Record<string, { leaseId: string }>;
    };
    if (rec.key === `${NS}/${name}`) ids.push(...Object.values(rec.slots).map((s) => s.leaseId));
  }
  for (const id of ids) seen.add(id);
  return ids;
}

const canLogin = async (c: { username: string; password: string }) =>
  (await pg.tryQuery(c.username, c.password, 'SELECT 1')).out;
const roleExists = async (user: string) => (await pg.generatedRoles()).includes(user);

beforeAll(async () => {
  env = await TestEnv.start();
  pg = await setupDatabase(env);
  pki = await setupPki(env);
  // Short TTLs so renewals and re-issues happen within a test: renew at ~6 s, max TTL at 30 s.
  await databaseRole(env, 'app', { defaultTtl: '9s', maxTtl: '30s' });
  await databaseRole(env, 'other', { defaultTtl: '1h', maxTtl: '2h' });
  await databaseRole(env, 'doomed', { defaultTtl: '9s', maxTtl: '1h' });
  await env.createServiceAccount(NS, 'app');
  await env.policy('db', `${databasePolicy(['app', 'other', 'doomed'])}\n${pkiPolicy(['web'])}`);
  await env.role('db', { serviceAccounts: ['app'], namespaces: [NS], policies: ['db'] });
  ({ proc: controller } = await env.startController(['--lease-revoke-grace=3s']));
}, 240_000);

afterAll(async () => {
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- undefined when beforeAll failed
  await env?.stop(failed);
});

describe('database credentials', () => {
  it('are real logins, renewed before they expire, replaced before the max TTL, the old user dropped after the grace', async () => {
    await createSecretSync(env, dbSync('app-db', { role: 'app' }));
    await waitReady(env, NS, 'app-db', 'True');
    const first = await creds('app-db');
    expect(await canLogin(first)).toBe('1');
    const [lease] = await recordLeases('app-db');
    expect(lease).toMatch(/^database\/creds\/app\//);
    expect(await outstandingLeases(env, 'database/creds/app/')).toEqual([lease]);

    // Renewed at ~2/3 of 9 s: the lease's expiry moves past the first one.
    const before = await lookupLease(env, lease ?? '');
    await waitFor('lease renewed', async () => (await lookupLease(env, lease ?? ''))?.lastRenewal != null, 15_000);
    const after = await lookupLease(env, lease ?? '');
    expect(Date.parse(after?.expireTime ?? '')).toBeGreaterThan(Date.parse(before?.expireTime ?? ''));
    expect(await canLogin(first)).toBe('1');

    // Max TTL 30 s: new credentials some seconds before; the old user goes 3 s (the grace) later.
    const second = await creds('app-db', (c) => c.username !== first.username);
    expect(await canLogin(second)).toBe('1');
    await waitFor('old user dropped', async () => !(await roleExists(first.username)), 15_000);
    expect(await canLogin(first)).not.toBe('1');
    const leases = await recordLeases('app-db');
    expect(await outstandingLeases(env, 'database/creds/app/')).toEqual(leases);
  }, 90_000);

  it('a lease revoked behind its back is noticed at the next renewal and replaced', async () => {
    await createSecretSync(env, dbSync('revoked', { role: 'doomed' }));
    const first = await creds('revoked');
    const [lease] = await recordLeases('revoked');
    await must(env.vault, 'PUT', `/v1/sys/leases/revoke/${lease}`, {});
    expect(await roleExists(first.username)).toBe(false);
    const second = await creds('revoked', (c) => c.username !== first.username);
    expect(await canLogin(second)).toBe('1');
    await waitReady(env, NS, 'revoked', 'True');
  }, 60_000);

  it('a source change issues new credentials and revokes the old lease; deletion revokes the rest', async () => {
    await createSecretSync(env, dbSync('switch', { role: 'other' }));
    const first = await creds('switch');
    const [oldLease] = await recordLeases('switch');
    await patchSecretSync(env, NS, 'switch', { spec: { sources: [{ database: { role: 'app' } }] } });
    const second = await creds('switch', (c) => c.username !== first.username);
    expect(second.username).not.toBe(first.username);
    await waitFor('old user dropped', async () => !(await roleExists(first.username)), 15_000);
    // OpenBao drops the user before it deletes the lease entry, and the controller removes its record
    // after the revoke returns: each is awaited, not sampled once.
    expect(oldLease).toBeDefined();
    await waitFor(
      'old lease gone from Vault',
      async () => !(await outstandingLeases(env, 'database/creds/other/')).includes(oldLease ?? ''),
      15_000,
    );

    await deleteSecretSync(env, NS, 'switch');
    await waitFor('user dropped on delete', async () => !(await roleExists(second.username)), 15_000);
    await waitFor('record removed on delete', async () => (await recordLeases('switch')).length === 0, 15_000);
  }, 60_000);

  it('Vault down in the renewal window: the Secret keeps its credentials, Ready=False, then recovery', async () => {
    await createSecretSync(env, dbSync('outage', { role: 'doomed' }));
    const first = await creds('outage');
    await waitReady(env, NS, 'outage', 'True');
    await env.stopVault();
    try {
      const down = await waitReady(env, NS, 'outage', 'False', 'VaultUnavailable', 20_000);
      expect(down.status?.conditions?.[0]?.message ?? '').not.toMatch(/creds\/doomed\//);
      expect(decode((await waitSecret(env, NS, 'outage', () => true)).data)).toEqual(first);
    } finally {
      await env.startVault();
    }
    await waitReady(env, NS, 'outage', 'True', undefined, 60_000);
    const now = await creds('outage');
    expect(await canLogin(now)).toBe('1');
  }, 120_000);

  it('PostgreSQL unreachable from Vault: Ready=False with a reason, synced once it is back', async () => {
    await pg.stop();
    try {
      await createSecretSync(env, dbSync('nodb', { role: 'other' }));
      const cond = await waitReady(env, NS, 'nodb', 'False', 'VaultUnavailable', 30_000);
      expect(cond.status?.conditions?.[0]?.message).toMatch(/database\/creds\/other/);
    } finally {
      await pg.start();
    }
    await waitReady(env, NS, 'nodb', 'True', undefined, 60_000);
    expect(await canLogin(await creds('nodb'))).toBe('1');
  }, 120_000);

  it('a database role deleted in Vault: Ready=False naming the role, the Secret left as it was', async () => {
    await databaseRole(env, 'gone', { defaultTtl: '1h', maxTtl: '1h' });
    await env.policy('db', `${databasePolicy(['app', 'other', 'doomed', 'gone'])}\n${pkiPolicy(['web'])}`);
    await deleteDatabaseRole(env, 'gone');
    await createSecretSync(env, dbSync('norole', { role: 'gone' }));
    const cond = await waitReady(env, NS, 'norole', 'False', 'VaultPathNotFound', 30_000);
    expect(cond.status?.conditions?.[0]?.message).toMatch(/role gone exists/);
  }, 60_000);
});

describe('PKI certificates', () => {
  it('a kubernetes.io/tls Secret whose chain, SANs and key check out, issued again before expiry with a new key', async () => {
    await createSecretSync(
      env,
      secretSync(NS, 'web-tls', {
        sources: [
          {
            pki: {
              role: 'web',
              commonName: 'app.example.test',
              altNames: ['www.example.test'],
              ipSans: ['127.0.0.1'],
              ttl: '15s',
            },
          },
        ],
        auth: { kubernetes: { role: 'db', serviceAccountName: 'app' } },
        target: { name: 'web-tls', type: 'kubernetes.io/tls' },
        refresh: { interval: '1h' },
      }),
    );
    await waitReady(env, NS, 'web-tls', 'True');
    const read = async (pred: (c: X509Certificate) => boolean = () => true) => {
      let got: { leaf: X509Certificate; data: Record<string, string> } | undefined;
      await waitSecret(
        env,
        NS,
        'web-tls',
        (s) => {
          const data = decode(s.data);
          if (data['tls.crt'] === undefined) return false;
          const leaf = new X509Certificate(data['tls.crt']);
          got = { leaf, data };
          return pred(leaf);
        },
        30_000,
      );
      if (got === undefined) throw new Error('no certificate');
      return got;
    };
    const first = await read();
    const firstSeen = Date.now();
    const root = new X509Certificate(pki.rootPem);
    const ca = new X509Certificate(first.data['ca.crt'] ?? '');
    expect(ca.fingerprint256).toBe(root.fingerprint256);
    expect(first.leaf.verify(root.publicKey)).toBe(true);
    expect(first.leaf.checkIssued(root)).toBe(true);
    expect(first.leaf.subject).toContain('CN=app.example.test');
    expect(first.leaf.subjectAltName).toContain('DNS:www.example.test');
    expect(first.leaf.subjectAltName).toContain('IP Address:127.0.0.1');
    expect(first.leaf.checkPrivateKey(createPrivateKey(first.data['tls.key'] ?? ''))).toBe(true);
    seen.add(first.data['tls.key'] ?? '');

    // 15 s lifetime, renewBefore a third: a new certificate (and key) about 10 s after the first, never after expiry.
    const second = await read((c) => c.serialNumber !== first.leaf.serialNumber);
    // renewBefore is a third of what the certificate had left when issued: not at once (Vault
    // backdates notBefore by 30 s, which must not count), and before the first one expires.
    expect(Date.now() - firstSeen).toBeGreaterThan(5_000);
    expect(Date.parse(first.leaf.validTo)).toBeGreaterThan(Date.now() - 1000);
    expect(second.leaf.publicKey.export({ format: 'der', type: 'spki' })).not.toEqual(
      first.leaf.publicKey.export({ format: 'der', type: 'spki' }),
    );
    expect(second.leaf.checkPrivateKey(createPrivateKey(second.data['tls.key'] ?? ''))).toBe(true);
    seen.add(second.data['tls.key'] ?? '');
    // Status shows when the certificate expires, never its content.
    const notAfter = Date.parse(second.leaf.validTo);
    const sync = await waitFor('status.certificateNotAfter', async () => {
      const s = await getSecretSync(env, NS, 'web-tls');
      const shown = (s?.status as { certificateNotAfter?: string } | undefined)?.certificateNotAfter;
      return shown !== undefined && Date.parse(shown) === notAfter ? s : undefined;
    });
    expect(JSON.stringify(sync.status)).not.toContain('BEGIN');
  }, 60_000);
});

describe('what the controller says', () => {
  it('never logs, reports or records a credential, private key or lease id', async () => {
    const logs = env.logs()[`controller-0`] ?? '';
    expect(logs.length).toBeGreaterThan(0);
    const r = await call<{ items: unknown[] }>(
      env.kube,
      'GET',
      `/apis/vaultsync.io/v1alpha1/namespaces/${NS}/secretsyncs`,
    );
    const statuses = JSON.stringify(r.body.items);
    const events = JSON.stringify(await eventsFor(env, NS, ''));
    for (const value of seen) {
      if (value.length < 6) continue;
      const probe = value.includes('BEGIN') ? (value.split('\n')[1] ?? value) : value;
      expect(logs.includes(probe), 'in the controller log').toBe(false);
      expect(statuses.includes(probe), 'in a status').toBe(false);
      expect(events.includes(probe), 'in an event').toBe(false);
    }
    expect(controller.running).toBe(true);
    failed = false;
  });
});
