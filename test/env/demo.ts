/**
 * `npm run demo`: a newcomer's tour. Starts real etcd, kube-apiserver and OpenBao on loopback,
 * runs the built controller, syncs a sample secret, rotates it, and keeps running until Ctrl-C.
 *
 * Then dynamic credentials: a PostgreSQL user minted for the demo app, logged in with, and revoked.
 *
 * With VAULTSYNC_DEMO_EXIT=1 (what CI runs) it stops after that instead: exit status 0 and the lines
 * `demo: synced ...`, `demo: rotated ...`, `demo: database user ... minted` and `... revoked` only
 * when the Secret held exactly the values written into OpenBao, first the original and then the
 * rotated one, and the minted user could log in and was dropped; otherwise status 1.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { decode, createSecretSync, deleteSecretSync, secretSync, waitReady, waitSecret } from '../e2e/helpers.js';
import { databasePolicy, databaseRole, setupDatabase } from './dynamic.js';
import { waitFor } from './http.js';
import { TestEnv } from './testenv.js';

const say = (s: string) => process.stdout.write(`${s}\n`);
const mask = (v: string) => (v.length <= 4 ? '****' : `${v.slice(0, 2)}${'*'.repeat(Math.min(v.length - 2, 12))}`);

function kubectl(env: TestEnv, args: string[]): string {
  return execFileSync(env.bins.kubectl, ['--kubeconfig', env.adminKubeconfig, ...args], { encoding: 'utf8' });
}

async function main(): Promise<void> {
  say('starting etcd, kube-apiserver and OpenBao on loopback…');
  const env = await TestEnv.start({ keep: false, log: say });
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    say('\nstopping…');
    await env.stop();
    process.exit(0);
  };
  process.on('SIGINT', () => void stop());
  process.on('SIGTERM', () => void stop());

  try {
    say(`kube-apiserver ${env.apiUrl}, OpenBao ${env.vaultAddr}, logs in ${env.logDir}`);
    await env.createServiceAccount('demo', 'myapp');
    await env.policy('myapp-read', 'path "secret/data/myapp/*" { capabilities = ["read"] }');
    await env.role('app-read', { serviceAccounts: ['myapp'], namespaces: ['demo'], policies: ['myapp-read'] });
    const original = {
      database_password: randomBytes(9).toString('base64url'),
      api_key: randomBytes(12).toString('hex'),
    };
    await env.writeKv('myapp/config', original);
    say('wrote secret/myapp/config (database_password, api_key) into OpenBao');

    const { url } = await env.startController(['--vault-read-cache-ttl=1s']);
    say(`controller running (health, metrics: ${url}/metrics)`);

    await createSecretSync(
      env,
      secretSync('demo', 'myapp', {
        vault: { kv: { path: 'myapp/config' } },
        auth: { kubernetes: { role: 'app-read', serviceAccountName: 'myapp' } },
        data: [
          { secretKey: 'DB_PASS', property: 'database_password' },
          { secretKey: 'API_KEY', property: 'api_key' },
        ],
        target: { name: 'myapp-secret' },
        refresh: { interval: '5s' },
      }),
    );
    await waitReady(env, 'demo', 'myapp', 'True');
    say('\n$ kubectl get secretsync -n demo');
    say(kubectl(env, ['get', 'secretsync', '-n', 'demo']).trimEnd());
    const show = (data: Record<string, string> | undefined) => {
      for (const [k, v] of Object.entries(decode(data))) say(`  ${k} = ${mask(v)}`);
    };
    const first = await waitSecret(env, 'demo', 'myapp-secret', (s) =>
      sameData(decode(s.data), { DB_PASS: original.database_password, API_KEY: original.api_key }),
    );
    say('\nSecret demo/myapp-secret (values masked):');
    show(first.data);
    say('demo: synced demo/myapp-secret: DB_PASS and API_KEY equal secret/myapp/config in OpenBao');

    const rotated = randomBytes(9).toString('base64url');
    await env.writeKv('myapp/config', { database_password: rotated, api_key: original.api_key });
    const t0 = Date.now();
    say('\nrotated database_password in OpenBao; waiting for the next refresh (interval 5s)…');
    const second = await waitSecret(
      env,
      'demo',
      'myapp-secret',
      (s) => sameData(decode(s.data), { DB_PASS: rotated, API_KEY: original.api_key }),
      30_000,
    );
    const followedIn = ((Date.now() - t0) / 1000).toFixed(1);
    say(`Secret followed in ${followedIn} s:`);
    show(second.data);
    say(`demo: rotated demo/myapp-secret: DB_PASS equals the new value in OpenBao after ${followedIn} s`);
    await waitReady(env, 'demo', 'myapp', 'True');
    say('\n$ kubectl get secretsync -n demo');
    say(kubectl(env, ['get', 'secretsync', '-n', 'demo']).trimEnd());

    await dynamicStep(env);

    if (process.env.VAULTSYNC_DEMO_EXIT === '1') {
      await stop();
      return;
    }
    say(`\nrunning; try: ${env.bins.kubectl} --kubeconfig ${env.adminKubeconfig} describe secretsync -n demo myapp`);
    say('press Ctrl-C to stop and clean up');
    await new Promise(() => undefined);
  } catch (err) {
    say(`demo failed: ${(err as Error).message}`);
    await env.stop(true);
    process.exit(1);
  }
}

/**
 * Dynamic credentials: a PostgreSQL user minted by OpenBao's database engine for the demo app,
 * logged in with, then revoked (the user dropped) when the SecretSync is deleted.
 */
async function dynamicStep(env: TestEnv): Promise<void> {
  say("\nstarting PostgreSQL behind OpenBao's database secrets engine…");
  const pg = await setupDatabase(env);
  await databaseRole(env, 'myapp', { defaultTtl: '1m', maxTtl: '10m' });
  await env.policy('myapp-db', databasePolicy(['myapp']));
  await env.role('app-db', { serviceAccounts: ['myapp'], namespaces: ['demo'], policies: ['myapp-db'] });
  await createSecretSync(
    env,
    secretSync('demo', 'myapp-db', {
      sources: [{ database: { role: 'myapp' } }],
      auth: { kubernetes: { role: 'app-db', serviceAccountName: 'myapp' } },
      target: { name: 'myapp-db' },
    }),
  );
  await waitReady(env, 'demo', 'myapp-db', 'True');
  const secret = await waitSecret(env, 'demo', 'myapp-db', (s) => decode(s.data).username !== undefined);
  const { username = '', password = '' } = decode(secret.data);
  say(`Secret demo/myapp-db: username = ${username}, password = ${mask(password)} (lease of 1m, renewed at ~2/3)`);
  const login = await pg.tryQuery(username, password, 'SELECT current_user');
  if (!login.ok || login.out !== username)
    throw new Error(`could not log in to PostgreSQL as the synced user: ${login.out}`);
  say(
    `demo: database user ${username} minted for demo/myapp-db; logged in to PostgreSQL with it (SELECT current_user)`,
  );
  await deleteSecretSync(env, 'demo', 'myapp-db');
  await waitFor('the user dropped', async () => !(await pg.generatedRoles()).includes(username), 30_000);
  say(`demo: database user ${username} revoked when demo/myapp-db was deleted (gone from pg_roles)`);
}

/** Exactly these keys with these values. */
function sameData(got: Record<string, string>, want: Record<string, string>): boolean {
  const keys = Object.keys(want);
  return Object.keys(got).length === keys.length && keys.every((k) => got[k] === want[k]);
}

await main();
