/**
 * Leader election on real parts: two controller processes share one Lease; only the leader
 * writes; when it is SIGKILLed the standby takes over within the lease duration and syncs.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, waitFor } from '../env/http.js';
import type { Proc } from '../env/process.js';
import { CONTROLLER_NAMESPACE, TestEnv } from '../env/testenv.js';
import { createSecretSync, decode, getSecret, secretSync, sleep, waitReady, waitSecret } from './helpers.js';

const LEADER_FLAGS = [
  '--leader-elect',
  '--leader-election-lease-duration=4s',
  '--leader-election-renew-deadline=3s',
  '--leader-election-retry-period=500ms',
];

let env: TestEnv;
let failed = true;
const replicas: { proc: Proc; url: string }[] = [];

async function isLeader(url: string): Promise<boolean | undefined> {
  try {
    const text = (await call<string>({ url }, 'GET', '/metrics')).text;
    const m = /^vaultsync_leader (\d)$/m.exec(text);
    return m ? m[1] === '1' : undefined;
  } catch {
    return undefined;
  }
}

beforeAll(async () => {
  env = await TestEnv.start();
  await env.createServiceAccount('team-a', 'app');
  await env.policy('ha-read', 'path "secret/data/ha/*" { capabilities = ["read"] }');
  await env.role('ha', { serviceAccounts: ['app'], namespaces: ['team-a'], policies: ['ha-read'] });
  await env.writeKv('ha/config', { value: 'one' });
  replicas.push(await env.startController(LEADER_FLAGS, 'replica'));
  replicas.push(await env.startController(LEADER_FLAGS, 'replica'));
  failed = false;
});

afterAll(async () => {
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- undefined when beforeAll failed
  await env?.stop(failed);
});

describe('leader election', () => {
  it('one replica leads and writes; the other is ready and waits; killing the leader hands over', async () => {
    try {
      // Both replicas are ready (/readyz answered in startController); exactly one leads.
      const roles = await waitFor('one leader', async () => {
        const r = await Promise.all(replicas.map((x) => isLeader(x.url)));
        return r.filter((v) => v === true).length === 1 && r.filter((v) => v === false).length === 1 ? r : undefined;
      });
      const leaderIndex = roles.indexOf(true);
      const leader = replicas[leaderIndex]!;
      const standby = replicas[1 - leaderIndex]!;
      const lease = await call<{ spec: { holderIdentity: string } }>(
        env.kube,
        'GET',
        `/apis/coordination.k8s.io/v1/namespaces/${CONTROLLER_NAMESPACE}/leases/vaultsync-leader`,
      );
      expect(lease.status).toBe(200);

      const spec = (name: string) => ({
        vault: { kv: { path: 'ha/config' } },
        auth: { kubernetes: { role: 'ha', serviceAccountName: 'app' } },
        target: { name },
        refresh: { interval: '2s' },
      });
      await createSecretSync(env, secretSync('team-a', 'before', spec('before-secret')));
      await waitReady(env, 'team-a', 'before', 'True');

      // The standby refuses pushes rather than queue work it will not do.
      const push = await call({ url: standby.url }, 'POST', '/v1/refresh', '{}');
      expect([404, 503]).toContain(push.status); // 404: no webhook key configured in this test

      await leader.proc.kill();
      const killedAt = Date.now();
      await env.writeKv('ha/config', { value: 'two' });
      await createSecretSync(env, secretSync('team-a', 'after', spec('after-secret')));
      await waitFor('standby takes over', async () => (await isLeader(standby.url)) === true, 15_000, 100);
      const tookOverMs = Date.now() - killedAt;
      console.log(`FIGURE: standby took over ${tookOverMs} ms after the leader was SIGKILLed (lease duration 4s)`);
      expect(tookOverMs).toBeLessThan(4_000 + 3_000);
      await waitReady(env, 'team-a', 'after', 'True', undefined, 15_000);
      expect(decode((await getSecret(env, 'team-a', 'after-secret'))?.data).value).toBe('two');
      await waitSecret(env, 'team-a', 'before-secret', (s) => decode(s.data).value === 'two', 15_000);
    } catch (err) {
      failed = true;
      throw err;
    }
  });

  it('a graceful stop releases the Lease so a new replica leads at once', async () => {
    try {
      const current = replicas.find((r) => r.proc.running)!;
      replicas.push(await env.startController(LEADER_FLAGS, 'replica'));
      const next = replicas[replicas.length - 1]!;
      expect(await isLeader(next.url)).toBe(false);
      const t0 = Date.now();
      // The stopping replica releases the Lease, then drains (--shutdown-drain) before it exits.
      const stopping = current.proc.stop();
      await waitFor('new replica leads', async () => (await isLeader(next.url)) === true, 10_000, 100);
      const ms = Date.now() - t0;
      await stopping;
      console.log(`FIGURE: after a graceful stop the next replica led in ${ms} ms`);
      expect(ms).toBeLessThan(4_000); // well under the lease duration: the Lease was released
      await sleep(100);
    } catch (err) {
      failed = true;
      throw err;
    }
  });
});
