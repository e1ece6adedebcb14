/**
 * Push refresh through a Service on real parts: controller replicas with leader election behind a
 * round-robin TCP proxy (test/env/tcp-proxy.ts, standing in for the Service and kube-proxy). Every
 * signed trigger succeeds on its first try whichever replica the proxy picks: a standby forwards
 * to the leader published on the Lease. A trigger sent while the leader is SIGKILLed, and triggers
 * sent throughout a graceful hand-over, still refresh the Secret.
 */
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signRequest } from '../../src/server/index.js';
import { call, waitFor } from '../env/http.js';
import { freePort, type Proc } from '../env/process.js';
import { TcpProxy } from '../env/tcp-proxy.js';
import { CONTROLLER_NAMESPACE, REPO, TestEnv } from '../env/testenv.js';
import { createSecretSync, decode, getSecret, secretSync, waitReady, waitSecret } from './helpers.js';

const run = promisify(execFile);
const KEY = 'e2e-service-webhook-key-0123456789abcdef';
// Canary values: they reach the Secret and never a log line, whatever the log format.
const CANARY = 'canary-service-6d1f0a93';
const LEADER_FLAGS = [
  '--leader-elect',
  '--leader-election-lease-duration=4s',
  '--leader-election-renew-deadline=3s',
  '--leader-election-retry-period=500ms',
];

interface Replica {
  proc: Proc;
  /** Probes and /metrics. */
  url: string;
  webhookPort: number;
}

let env: TestEnv;
let proxy: TcpProxy | undefined;
let keyFile = '';
let failed = true;
const replicas: Replica[] = [];

async function startReplica(extra: string[] = []): Promise<Replica> {
  const webhookPort = await freePort();
  const { proc, url } = await env.startController(
    [
      ...LEADER_FLAGS,
      `--webhook-key-file=${keyFile}`,
      `--webhook-listen=127.0.0.1:${webhookPort}`,
      `--webhook-peer-address=127.0.0.1:${webhookPort}`,
      '--webhook-rate-limit=1000',
      ...extra,
    ],
    'replica',
  );
  const r = { proc, url, webhookPort };
  replicas.push(r);
  return r;
}

const upstream = (r: Replica) => ({ host: '127.0.0.1', port: r.webhookPort });

async function metric(r: Replica, re: RegExp): Promise<number | undefined> {
  try {
    const m = re.exec((await call<string>({ url: r.url }, 'GET', '/metrics')).text);
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}
const isLeader = async (r: Replica) => (await metric(r, /^vaultsync_leader (\d)$/m)) === 1;
const outcome = (r: Replica, o: string) =>
  metric(r, new RegExp(`^vaultsync_webhook_requests_total\\{outcome="${o}"\\} (\\d+)$`, 'm'));

async function leaderOf(live: Replica[]): Promise<{ leader: Replica; standbys: Replica[] }> {
  return waitFor('exactly one leader', async () => {
    const roles = await Promise.all(live.map(isLeader));
    if (roles.filter(Boolean).length !== 1) return undefined;
    return { leader: live[roles.indexOf(true)]!, standbys: live.filter((_, i) => !roles[i]) };
  });
}

/** One signed trigger on a new TCP connection (so the proxy picks a replica for each). */
function trigger(body: string): Promise<{ status: number; text: string; ms: number }> {
  const ts = String(Math.floor(Date.now() / 1000));
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    const req = request(
      `${proxy!.url}/v1/refresh`,
      {
        method: 'POST',
        agent: false,
        headers: {
          'content-type': 'application/json',
          'x-vaultsync-timestamp': ts,
          'x-vaultsync-signature': signRequest(Buffer.from(KEY), ts, body),
        },
        timeout: 10_000,
      },
      (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString('utf8')));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text, ms: Date.now() - t0 }));
      },
    );
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
    req.end(body);
  });
}

/** The real client, as CI runs it: no retries, so only a first-try success passes. */
async function cliTrigger(): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await run(process.execPath, [
      join(REPO, 'bin', 'vaultsync.js'),
      'trigger',
      `--url=${proxy!.url}`,
      `--key-file=${keyFile}`,
      '--path=secret/svc/config',
      '--retries=0',
    ]);
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

const BODY = JSON.stringify({ paths: ['secret/svc/config'] });
const value = async () => decode((await getSecret(env, 'team-a', 'svc-secret'))?.data).value;
const percentile = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) * p)] ?? 0;

beforeAll(async () => {
  env = await TestEnv.start();
  keyFile = join(env.dir, 'webhook.key');
  writeFileSync(keyFile, `${KEY}\n`, { mode: 0o600 });
  await env.createServiceAccount('team-a', 'app');
  await env.policy('svc-read', 'path "secret/data/svc/*" { capabilities = ["read"] }');
  await env.role('svc', { serviceAccounts: ['app'], namespaces: ['team-a'], policies: ['svc-read'] });
  await env.writeKv('svc/config', { value: 'v0', password: CANARY });
  // One replica logs text, the other JSON: the canary check below covers both formats.
  await startReplica(['--log-format=text']);
  await startReplica(['--log-format=json']);
  proxy = await TcpProxy.start(replicas.map(upstream));
  await createSecretSync(
    env,
    secretSync('team-a', 'svc', {
      vault: { kv: { path: 'svc/config' } },
      auth: { kubernetes: { role: 'svc', serviceAccountName: 'app' } },
      target: { name: 'svc-secret' },
      // Only a push can refresh it within this test.
      refresh: { interval: '1h' },
    }),
  );
  await waitReady(env, 'team-a', 'svc', 'True', undefined, 30_000);
  failed = false;
});

afterAll(async () => {
  await proxy?.close();
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- undefined when beforeAll failed
  await env?.stop(failed);
});

function track(fn: () => Promise<void> | void): () => Promise<void> {
  return async () => {
    try {
      await fn();
    } catch (err) {
      failed = true;
      throw err;
    }
  };
}

describe('push refresh through a Service with two replicas', () => {
  it(
    '200 signed triggers through the round-robin proxy: every one is accepted on the first try and refreshes',
    track(async () => {
      const { leader, standbys } = await leaderOf(replicas);
      const lease = await call<{ metadata: { annotations?: Record<string, string> } }>(
        env.kube,
        'GET',
        `/apis/coordination.k8s.io/v1/namespaces/${CONTROLLER_NAMESPACE}/leases/vaultsync-leader`,
      );
      expect(lease.body.metadata.annotations?.['vaultsync.io/webhook-address']).toBe(`127.0.0.1:${leader.webhookPort}`);
      proxy!.takeCounts();
      const failures: string[] = [];
      const latencies: number[] = [];
      let refreshes = 0;
      for (let i = 0; i < 200; i++) {
        // Every 25th trigger follows a Vault write and must bring it into the Secret.
        const rotate = i % 25 === 0;
        if (rotate) await env.writeKv('svc/config', { value: `v${i + 1}`, password: CANARY });
        const r = i % 50 === 1 ? await cliTrigger() : await trigger(BODY);
        if ('status' in r) {
          latencies.push(r.ms);
          if (r.status !== 202 || r.text !== '{"queued":1}') failures.push(`#${i}: ${r.status} ${r.text}`);
        } else if (r.code !== 0 || !r.stdout.includes('queued 1')) failures.push(`#${i} (cli): ${r.stderr}`);
        if (rotate) {
          await waitSecret(env, 'team-a', 'svc-secret', (s) => decode(s.data).value === `v${i + 1}`, 10_000);
          refreshes++;
        }
      }
      const counts = proxy!.takeCounts();
      console.log(
        `FIGURE: 200 triggers through the proxy: ${failures.length} failures; connections per replica ${JSON.stringify(counts.connections)}; ` +
          `latency p50 ${percentile(latencies, 0.5)} ms, p99 ${percentile(latencies, 0.99)} ms; ${refreshes} Vault writes refreshed by a trigger`,
      );
      expect(failures).toEqual([]);
      // Round-robin really spread them: each replica took about half.
      for (const r of replicas)
        expect(counts.connections[`127.0.0.1:${r.webhookPort}`] ?? 0).toBeGreaterThanOrEqual(90);
      // The standby forwarded its share; the leader accepted (and queued) all of them.
      expect(await outcome(standbys[0]!, 'forwarded')).toBeGreaterThanOrEqual(90);
      expect(await outcome(standbys[0]!, 'accepted')).toBe(0);
      expect(await outcome(leader, 'accepted')).toBe(200);
      expect(await outcome(leader, 'unavailable')).toBe(0);
    }),
  );

  it(
    'a trigger sent right after the leader is SIGKILLed is accepted at once and refreshes the Secret',
    track(async () => {
      const { leader, standbys } = await leaderOf(replicas.filter((r) => r.proc.running));
      const standby = standbys[0]!;
      await env.writeKv('svc/config', { value: 'after-crash', password: CANARY });
      await leader.proc.kill();
      const t0 = Date.now();
      // Through the proxy, as CI would: the dead replica refuses connections, the standby answers.
      const r = await cliTrigger();
      const answeredMs = Date.now() - t0;
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toContain('queued 1');
      await waitSecret(env, 'team-a', 'svc-secret', (s) => decode(s.data).value === 'after-crash', 20_000);
      const refreshedMs = Date.now() - t0;
      const how =
        (await outcome(standby, 'deferred')) === 1 ? 'deferred to the takeover' : 'handled after the takeover';
      console.log(
        `FIGURE: trigger during a crash failover answered in ${answeredMs} ms (${how}); Secret refreshed ${refreshedMs} ms after the SIGKILL (lease duration 4s)`,
      );
      expect(await isLeader(standby)).toBe(true);
    }),
  );

  it(
    'triggers sent throughout a graceful hand-over all succeed on the first try, and the last one refreshes',
    track(async () => {
      const next = await startReplica(['--log-format=json']);
      const { leader } = await leaderOf(replicas.filter((r) => r.proc.running));
      proxy!.setUpstreams(replicas.filter((r) => r.proc.running).map(upstream));
      const results: { status: number; text: string; ms: number }[] = [];
      const state = { sending: true };
      const sender = (async () => {
        while (state.sending) {
          results.push(await trigger(BODY).catch((err: unknown) => ({ status: 0, text: String(err), ms: 0 })));
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
      })();
      await new Promise((resolve) => setTimeout(resolve, 500));
      // A rolling update: SIGTERM; the leader finishes, releases the Lease, drains and exits. The
      // Service drops the pod a second later (kube-proxy lags): meanwhile it still gets requests.
      const stopped = leader.proc.stop(10_000);
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      proxy!.setUpstreams([upstream(next)]);
      await stopped;
      await waitFor('the new replica leads', async () => isLeader(next), 15_000, 100);
      await env.writeKv('svc/config', { value: 'after-handover', password: CANARY });
      await new Promise((resolve) => setTimeout(resolve, 300));
      const last = await trigger(BODY);
      state.sending = false;
      await sender;
      results.push(last);
      const bad = results.filter((r) => r.status !== 202);
      console.log(
        `FIGURE: ${results.length} triggers during a graceful hand-over: ${bad.length} not accepted; slowest ${Math.max(...results.map((r) => r.ms))} ms`,
      );
      expect(bad).toEqual([]);
      expect(results.length).toBeGreaterThan(10);
      await waitSecret(env, 'team-a', 'svc-secret', (s) => decode(s.data).value === 'after-handover', 10_000);
      expect(await value()).toBe('after-handover');
    }),
  );

  it(
    'no secret value reaches a log line, in text or JSON format',
    track(() => {
      const logs = Object.entries(env.logs()).filter(([name]) => name.startsWith('replica'));
      expect(logs.length).toBe(3);
      const needles = [CANARY, Buffer.from(CANARY).toString('base64'), KEY];
      for (const [name, text] of logs) {
        expect(text.length, name).toBeGreaterThan(1000);
        for (const n of needles) expect(text.includes(n), `${name} contains a secret`).toBe(false);
      }
      // The formats really differ: text lines in the first replica's log, JSON in the second's.
      const [text, json] = [logs[0]![1], logs[1]![1]];
      expect(text).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z INFO /m);
      const line = json.split('\n').find((l) => l.startsWith('{'));
      expect(JSON.parse(line ?? '{}')).toMatchObject({ level: 'info', time: expect.stringMatching(/Z$/) as unknown });
    }),
  );
});
