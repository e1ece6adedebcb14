/**
 * `npm run bench:dynamic -- [--n 200] [--ttl 30s] [--windows 4] [--keep]`
 *
 * The cost of leases, on the real local environment (etcd, kube-apiserver, OpenBao, PostgreSQL):
 * N SecretSyncs with database credentials of TTL T (max TTL far away, so leases are renewed, not
 * replaced). After they are all synced, `windows` TTLs are observed: Vault requests per lease per
 * TTL by operation (from the controller's vaultsync_vault_requests_total), API writes (Secrets and
 * lease records whose resourceVersion moved), then every SecretSync is deleted. Leases outstanding
 * (LIST sys/leases/lookup) and PostgreSQL users are counted while they live and after the deletes.
 * Prints one table (docs/benchmarks.md#dynamic-database-credentials).
 */
import { parseArgs } from 'node:util';
import { parseDuration } from '../src/api/index.js';
import { must, waitFor } from '../test/env/http.js';
import { databasePolicy, databaseRole, outstandingLeases, setupDatabase } from '../test/env/dynamic.js';
import { CONTROLLER_NAMESPACE, TestEnv } from '../test/env/testenv.js';
import { createSecretSync, deleteSecretSync, secretSync } from '../test/e2e/helpers.js';
import { diffCounters, parseProm, type Sample } from './prom.js';

const { values: args } = parseArgs({
  options: {
    n: { type: 'string', default: '200' },
    ttl: { type: 'string', default: '30s' },
    windows: { type: 'string', default: '4' },
    keep: { type: 'boolean', default: false },
  },
});
const N = Number(args.n);
const TTL_MS = parseDuration(args.ttl);
const WINDOWS = Number(args.windows);
const NS = 'bench-dyn';
const say = (s: string) => process.stdout.write(`${s}\n`);

async function scrape(url: string): Promise<Sample[]> {
  const res = await fetch(`${url}/metrics`);
  return parseProm(await res.text());
}

/** resourceVersion by name of the Secrets in `ns` (optionally label-selected). */
async function versions(env: TestEnv, ns: string, selector = ''): Promise<Map<string, string>> {
  const q = selector === '' ? '' : `?labelSelector=${encodeURIComponent(selector)}`;
  const r = await must<{ items: { metadata: { name: string; resourceVersion: string } }[] }>(
    env.kube,
    'GET',
    `/api/v1/namespaces/${ns}/secrets${q}`,
  );
  return new Map(r.body.items.map((i) => [i.metadata.name, i.metadata.resourceVersion]));
}

const changed = (a: Map<string, string>, b: Map<string, string>) =>
  [...b].filter(([name, rv]) => a.get(name) !== rv).length + [...a.keys()].filter((k) => !b.has(k)).length;

async function main(): Promise<void> {
  const env = await TestEnv.start({ keep: args.keep });
  try {
    const pg = await setupDatabase(env);
    await databaseRole(env, 'bench', { defaultTtl: `${TTL_MS / 1000}s`, maxTtl: '24h' });
    await env.createServiceAccount(NS, 'app');
    await env.policy('bench-db', databasePolicy(['bench']));
    await env.role('bench-db', { serviceAccounts: ['app'], namespaces: [NS], policies: ['bench-db'] });
    const { url } = await env.startController(['--log-level=info', '--write-qps=200', '--vault-qps=500']);
    const t0 = Date.now();
    for (let i = 0; i < N; i++) {
      await createSecretSync(
        env,
        secretSync(NS, `db-${i}`, {
          sources: [{ database: { role: 'bench' } }],
          auth: { kubernetes: { role: 'bench-db', serviceAccountName: 'app' } },
          target: { name: `db-${i}` },
          refresh: { interval: '1h' },
        }),
      );
    }
    await waitFor(
      `${N} Secrets written`,
      async () => (await versions(env, NS, 'app.kubernetes.io/managed-by=vaultsync')).size === N,
      15 * 60_000,
      1000,
    );
    const initialSeconds = (Date.now() - t0) / 1000;
    say(`initial sync of ${N} SecretSyncs with database credentials: ${initialSeconds.toFixed(1)} s`);

    const secretsBefore = await versions(env, NS, 'app.kubernetes.io/managed-by=vaultsync');
    const recordsBefore = await versions(env, CONTROLLER_NAMESPACE, 'vaultsync.io/lease-record');
    const before = await scrape(url);
    const windowMs = WINDOWS * TTL_MS;
    say(`observing ${WINDOWS} TTLs (${(windowMs / 1000).toFixed(0)} s)…`);
    await new Promise((r) => setTimeout(r, windowMs));
    const after = await scrape(url);
    const secretsAfter = await versions(env, NS, 'app.kubernetes.io/managed-by=vaultsync');
    const recordsAfter = await versions(env, CONTROLLER_NAMESPACE, 'vaultsync.io/lease-record');
    const requests = diffCounters(before, after, (n) => n === 'vaultsync_vault_requests_total');
    const leasesLive = (await outstandingLeases(env, 'database/creds/bench/')).length;
    const usersLive = (await pg.generatedRoles()).length;

    for (let i = 0; i < N; i++) await deleteSecretSync(env, NS, `db-${i}`);
    await waitFor(
      'leases revoked',
      async () => (await outstandingLeases(env, 'database/creds/bench/')).length === 0,
      10 * 60_000,
      1000,
    );
    const usersAfter = (await pg.generatedRoles()).length;

    const perLeasePerTtl = (op: string) =>
      Object.entries(requests)
        .filter(([k]) => k.includes(`operation="${op}"`))
        .reduce((sum, [, v]) => sum + v, 0) /
      N /
      WINDOWS;
    say('');
    say(
      `| N | TTL | window | renew / lease / TTL | issue / lease / TTL | lookup | read | login | Secret writes | record writes | leases live | users live | leases after delete | users after delete |`,
    );
    say(`|---|---|---|---|---|---|---|---|---|---|---|---|---|---|`);
    say(
      `| ${N} | ${args.ttl} | ${WINDOWS} TTLs | ${perLeasePerTtl('renew').toFixed(2)} | ${perLeasePerTtl('issue').toFixed(2)} | ${perLeasePerTtl('lookup') * N * WINDOWS} | ${perLeasePerTtl('read') * N * WINDOWS} | ${perLeasePerTtl('login') * N * WINDOWS} | ${changed(secretsBefore, secretsAfter)} | ${changed(recordsBefore, recordsAfter)} | ${leasesLive} | ${usersLive} | 0 | ${usersAfter} |`,
    );
    say(`\nVault requests in the window: ${JSON.stringify(requests)}`);
  } finally {
    await env.stop();
  }
}

await main();
