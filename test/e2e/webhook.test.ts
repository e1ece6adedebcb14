/**
 * Push refresh on real parts: `vaultsync trigger` after a Vault write updates the Secret long
 * before the poll interval; unsigned or badly signed requests change nothing.
 */
import { execFile } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call } from '../env/http.js';
import { REPO, TestEnv } from '../env/testenv.js';
import { createSecretSync, decode, getSecret, secretSync, sleep, waitReady, waitSecret } from './helpers.js';

const run = promisify(execFile);
const KEY = 'e2e-webhook-key-0123456789abcdef';
const TEAM_KEY = 'e2e-team-b-key-fedcba9876543210';

let env: TestEnv;
let url = '';
let keyFile = '';
let failed = true;

beforeAll(async () => {
  env = await TestEnv.start();
  keyFile = join(env.dir, 'webhook.key');
  writeFileSync(keyFile, `${KEY}\n`, { mode: 0o600 });
  const nsKeys = join(env.dir, 'ns-keys');
  await import('node:fs/promises').then((fs) => fs.mkdir(nsKeys));
  writeFileSync(join(nsKeys, 'team-b'), TEAM_KEY);
  for (const ns of ['team-a', 'team-b']) await env.createServiceAccount(ns, 'app');
  await env.policy('push-read', 'path "secret/data/push/*" { capabilities = ["read"] }');
  await env.role('push', { serviceAccounts: ['app'], namespaces: ['team-a', 'team-b'], policies: ['push-read'] });
  await env.writeKv('push/config', { token: 'v1' });
  ({ url } = await env.startController([
    `--webhook-key-file=${keyFile}`,
    `--webhook-namespace-keys-dir=${nsKeys}`,
    '--webhook-rate-limit=600',
  ]));
  for (const ns of ['team-a', 'team-b']) {
    await createSecretSync(
      env,
      secretSync(ns, 'push', {
        vault: { kv: { path: 'push/config' } },
        auth: { kubernetes: { role: 'push', serviceAccountName: 'app' } },
        target: { name: 'push-secret' },
        refresh: { interval: '1h' },
      }),
    );
    await waitReady(env, ns, 'push', 'True');
  }
  failed = false;
});

afterAll(async () => {
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- undefined when beforeAll failed
  await env?.stop(failed);
});

async function trigger(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await run(process.execPath, [join(REPO, 'bin', 'vaultsync.js'), 'trigger', `--url=${url}`, ...args]);
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

const token = async (ns: string) => decode((await getSecret(env, ns, 'push-secret'))?.data).token;

describe('push refresh', () => {
  it('vaultsync trigger after a Vault write updates every reader of the path within seconds', async () => {
    try {
      await env.writeKv('push/config', { token: 'v2' });
      const t0 = Date.now();
      const r = await trigger([`--key-file=${keyFile}`, '--path=secret/push/config']);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toContain('queued 2');
      await waitSecret(env, 'team-a', 'push-secret', (s) => decode(s.data).token === 'v2', 10_000);
      await waitSecret(env, 'team-b', 'push-secret', (s) => decode(s.data).token === 'v2', 10_000);
      // The poll interval is 1h: only the push can have done this.
      expect(Date.now() - t0).toBeLessThan(5_000);
    } catch (err) {
      failed = true;
      throw err;
    }
  });

  it('a namespace key refreshes only its own namespace', async () => {
    try {
      await env.writeKv('push/config', { token: 'v3' });
      const teamKey = join(env.dir, 'team-b.key');
      writeFileSync(teamKey, TEAM_KEY);
      const r = await trigger([`--key-file=${teamKey}`, '--path=secret/push/config']);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toContain('queued 1');
      await waitSecret(env, 'team-b', 'push-secret', (s) => decode(s.data).token === 'v3', 10_000);
      await sleep(1_500);
      expect(await token('team-a')).toBe('v2');
      const other = await trigger([`--key-file=${teamKey}`, '--secret-sync=team-a/push']);
      expect(other.code).not.toBe(0);
    } catch (err) {
      failed = true;
      throw err;
    }
  });

  it('unsigned, badly signed, stale and replayed requests are refused and change nothing', async () => {
    try {
      await env.writeKv('push/config', { token: 'v4' });
      const body = JSON.stringify({ paths: ['secret/push/config'] });
      const now = Math.floor(Date.now() / 1000);
      const sign = (key: string, ts: number, b = body) =>
        `sha256=${createHmac('sha256', key).update(`${ts}.${b}`).digest('hex')}`;
      const ep = { url };
      const post = (headers: Record<string, string>, b = body) => call(ep, 'POST', '/v1/refresh', b, headers);
      const statuses = [
        (await post({})).status,
        (
          await post({
            'x-vaultsync-timestamp': String(now),
            'x-vaultsync-signature': sign('wrong-key-0123456789', now),
          })
        ).status,
        (await post({ 'x-vaultsync-timestamp': String(now - 3600), 'x-vaultsync-signature': sign(KEY, now - 3600) }))
          .status,
        (
          await post(
            { 'x-vaultsync-timestamp': String(now), 'x-vaultsync-signature': sign(KEY, now) },
            JSON.stringify({ paths: ['secret/push/other'] }),
          )
        ).status, // body changed after signing
        (
          await post({
            'x-hub-signature-256': `sha256=${createHmac('sha256', 'nope-nope-nope-nope').update(body).digest('hex')}`,
          })
        ).status,
      ];
      expect(statuses).toEqual([401, 401, 401, 401, 401]);
      const big = JSON.stringify({ paths: ['x'.repeat(100_000)] });
      expect(
        (await post({ 'x-vaultsync-timestamp': String(now), 'x-vaultsync-signature': sign(KEY, now, big) }, big))
          .status,
      ).toBe(413);
      await sleep(2_000);
      expect(await token('team-a')).toBe('v2');
      expect(await token('team-b')).toBe('v3');
      const metrics = (await call<string>(ep, 'GET', '/metrics')).text;
      expect(metrics).toMatch(/vaultsync_webhook_requests_total\{outcome="unauthorized"\} 5/);
    } catch (err) {
      failed = true;
      throw err;
    }
  });
});
