/**
 * Push refresh on real parts: `vaultsync trigger` after a Vault write updates the Secret long
 * before the poll interval; unsigned or badly signed requests change nothing. The webhook has its
 * own port (as the chart runs it) behind a local reverse proxy the controller trusts
 * (--webhook-trusted-proxies): one client flooding through it does not lock out another, and a
 * GitHub delivery id is accepted once.
 */
import { execFile } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { createServer, request, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call } from '../env/http.js';
import { freePort } from '../env/process.js';
import { REPO, TestEnv } from '../env/testenv.js';
import { createSecretSync, decode, getSecret, secretSync, sleep, waitReady, waitSecret } from './helpers.js';

const run = promisify(execFile);
// At least 32 bytes (MIN_KEY_LENGTH).
const KEY = 'e2e-webhook-key-0123456789abcdef';
const TEAM_KEY = 'e2e-team-b-key-fedcba9876543210-b';
const RATE = 600;

let env: TestEnv;
/** --listen: probes and /metrics. */
let metricsUrl = '';
/** --webhook-listen: the webhook alone, reached directly. */
let url = '';
/** The trusted reverse proxy in front of the webhook. */
let proxyUrl = '';
let proxy: Server | undefined;
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
  const webhookPort = await freePort();
  ({ url: metricsUrl } = await env.startController([
    `--webhook-key-file=${keyFile}`,
    `--webhook-namespace-keys-dir=${nsKeys}`,
    `--webhook-rate-limit=${RATE}`,
    `--webhook-listen=127.0.0.1:${webhookPort}`,
    '--webhook-trusted-proxies=127.0.0.1/32',
  ]));
  url = `http://127.0.0.1:${webhookPort}`;
  proxy = await startProxy(webhookPort);
  proxyUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
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
  proxy?.close();
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- undefined when beforeAll failed
  await env?.stop(failed);
});

/** A reverse proxy on 127.0.0.1 that names its client in X-Forwarded-For, as an Ingress controller does. */
function startProxy(webhookPort: number): Promise<Server> {
  const server = createServer((req, res) => {
    const up = request(
      {
        host: '127.0.0.1',
        localAddress: '127.0.0.1',
        port: webhookPort,
        method: req.method,
        path: req.url,
        headers: { ...req.headers, 'x-forwarded-for': req.socket.remoteAddress ?? '' },
      },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    up.on('error', () => res.writeHead(502).end());
    req.pipe(up);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

/** One POST from a chosen loopback address (Linux answers on all of 127.0.0.0/8). */
function postFrom(
  from: string,
  base: string,
  body: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; text: string; headers: IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const req = request(`${base}/v1/refresh`, { method: 'POST', localAddress: from, headers }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString('utf8')));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text, headers: res.headers }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function trigger(args: string[], base = url): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await run(process.execPath, [join(REPO, 'bin', 'vaultsync.js'), 'trigger', `--url=${base}`, ...args]);
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
      const metrics = (await call<string>({ url: metricsUrl }, 'GET', '/metrics')).text;
      expect(metrics).toMatch(/vaultsync_webhook_requests_total\{outcome="unauthorized"\} 5/);
    } catch (err) {
      failed = true;
      throw err;
    }
  });
});

describe('the webhook port behind a trusted proxy', () => {
  it('keeps metrics and the webhook apart', async () => {
    expect((await call({ url }, 'GET', '/metrics')).status).toBe(404);
    expect((await call({ url: metricsUrl }, 'POST', '/v1/refresh', '{}')).status).toBe(404);
    // No metric names a SecretSync unless --metrics-per-secretsync.
    const text = (await call<string>({ url: metricsUrl }, 'GET', '/metrics')).text;
    expect(text).not.toContain('team-a');
    expect(text).toMatch(/^vaultsync_secretsync_oldest_success_age_seconds \d+$/m);
  });

  it('one client flooding through the proxy is limited; another behind the same proxy still gets 202', async () => {
    try {
      await env.writeKv('push/config', { token: 'v5' });
      const flooder = '127.0.0.2';
      const codes: number[] = [];
      // Unsigned requests, 20 at a time: more than the flooder's budget of RATE a minute.
      for (let sent = 0; sent < RATE + 100; sent += 20) {
        const batch = await Promise.all(Array.from({ length: 20 }, () => postFrom(flooder, proxyUrl, '{}')));
        codes.push(...batch.map((r) => r.status));
      }
      // The budget refills by RATE/60 a second while the flood runs.
      expect(codes.filter((c) => c === 401).length).toBeLessThanOrEqual(RATE + 30);
      expect(codes.filter((c) => c === 429).length).toBeGreaterThanOrEqual(70);
      expect(codes.every((c) => c === 401 || c === 429)).toBe(true);
      // Claiming another client in X-Forwarded-For directly, not through the proxy, does not help.
      // The flooder's budget refills by RATE/60 a second (one every 100 ms), so a single forged
      // request may find a token; 30 at once cannot all, whereas a fresh client's budget would
      // pass all 30 (unsigned: 401).
      const forged = await Promise.all(
        Array.from({ length: 30 }, () => postFrom(flooder, url, '{}', { 'x-forwarded-for': '127.0.0.9' })),
      );
      expect(forged.filter((f) => f.status === 429).length).toBeGreaterThanOrEqual(20);

      // The other client (vaultsync trigger from 127.0.0.1) through the same proxy, at once.
      const t0 = Date.now();
      const r = await trigger([`--key-file=${keyFile}`, '--path=secret/push/config', '--retries=0'], proxyUrl);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toContain('queued 2');
      await waitSecret(env, 'team-a', 'push-secret', (s) => decode(s.data).token === 'v5', 10_000);
      expect(Date.now() - t0).toBeLessThan(5_000);
    } catch (err) {
      failed = true;
      throw err;
    }
  });

  it('refuses a GitHub delivery whose id was seen, even with a new body and signature', async () => {
    try {
      const delivery = '6c1b5e2a-3f4d-11ef-9a7b-2e1f0c9d8e7a';
      const gh = (body: string, id = delivery) => ({
        'content-type': 'application/json',
        'x-github-event': 'workflow_run',
        'x-github-delivery': id,
        'x-hub-signature-256': `sha256=${createHmac('sha256', KEY).update(body).digest('hex')}`,
      });
      const first = JSON.stringify({ paths: ['secret/push/config'] });
      const second = JSON.stringify({ secretSyncs: ['team-a/push'] });
      // From a client of its own behind the proxy, so that the flood above does not limit it.
      const github = '127.0.0.3';
      expect((await postFrom(github, proxyUrl, first, gh(first))).status).toBe(202);
      const replay = await postFrom(github, proxyUrl, second, gh(second));
      expect(replay.status).toBe(401);
      expect(replay.text).toContain('delivery already seen');
      // A body seen before (accepted or refused) under a new id is refused by its signature.
      expect((await postFrom(github, proxyUrl, first, gh(first, 'another-id'))).status).toBe(401);
      expect((await postFrom(github, proxyUrl, second, gh(second, 'a-new-id'))).status).toBe(401);
      const third = JSON.stringify({ secretSyncs: ['team-b/push'] });
      // A new body under a new id (the ids above were remembered too, refused or not).
      expect((await postFrom(github, proxyUrl, third, gh(third, 'yet-another-id'))).status).toBe(202);
    } catch (err) {
      failed = true;
      throw err;
    }
  });
});
