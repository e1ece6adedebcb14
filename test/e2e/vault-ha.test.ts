/**
 * Vault as the seed runs it: a 3-node OpenBao Raft cluster behind one address (a round-robin TCP
 * proxy, test/env/tcp-proxy.ts), the built controller pointed at that address. SIGKILL the active
 * node while 50 SecretSyncs in two namespaces refresh: no Secret may be deleted, blanked or given a
 * value Vault never held at any moment (a watch sees every event), a value written to the new
 * active node must reach every Secret within 30 s of the kill, and the killed node must rejoin.
 * Prints what the standbys answered during the failover (`FIGURE:` lines).
 */
import { readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request } from 'node:https';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, must, waitFor } from '../env/http.js';
import { TcpProxy } from '../env/tcp-proxy.js';
import { TestEnv } from '../env/testenv.js';
import { VaultCluster, type VaultNode } from '../env/vault-cluster.js';
import { countReady, figure, listSecretSyncs, listSecrets, metric, scrape, tracked, type Sample } from './bulk.js';
import { assertNoCanaries } from './canary.js';
import { createSecretSync, decode, secretSync, sleep, type SecretObject } from './helpers.js';

const NAMESPACES = ['ha-a', 'ha-b'];
const PER_NAMESPACE = 25;
const PATHS = 10;
const RESUME_LIMIT_MS = 30_000;

let env: TestEnv;
let cluster: VaultCluster | undefined;
let proxy: TcpProxy | undefined;
let failed = true;
const track = tracked(() => {
  failed = true;
});

beforeAll(async () => {
  env = await TestEnv.start({ vault: false });
  cluster = await VaultCluster.start({ bin: env.bins.vault, dir: env.dir, logDir: env.logDir });
  proxy = await TcpProxy.start(cluster.nodes.map((n) => ({ host: '127.0.0.1', port: n.apiPort })));
  await env.attachVault(proxy.url, cluster.rootToken);
  failed = false;
}, 240_000);

afterAll(async () => {
  await proxy?.close();
  await cluster?.stop();
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- undefined when beforeAll failed
  await env?.stop(failed);
});

const value = (round: string, p: number) => `ha-${round}-p${p}-canary-7c3a`;
const pathOf = (i: number) => i % PATHS;
const names = () => NAMESPACES.flatMap((ns) => Array.from({ length: PER_NAMESPACE }, (_, i) => ({ ns, i })));

async function writeAll(vault: Parameters<typeof must>[0], round: string): Promise<void> {
  for (let p = 0; p < PATHS; p++)
    await must(vault, 'POST', `/v1/secret/data/ha/p${p}`, { data: { value: value(round, p), path: `p${p}` } });
}

/** All 50 Secrets hold `round`'s values. */
async function allAt(round: string): Promise<boolean> {
  for (const ns of NAMESPACES) {
    const secrets = (await listSecrets(env, ns)).filter((s) => s.metadata.name.startsWith('s-'));
    if (secrets.length !== PER_NAMESPACE) return false;
    for (const s of secrets) {
      const p = pathOf(Number(s.metadata.name.slice(2)));
      if (decode(s.data).value !== value(round, p)) return false;
    }
  }
  return true;
}

/**
 * Watches every Secret of NAMESPACES from `resourceVersion` on and records each event that shows a
 * Secret deleted or holding anything but exactly one of the values Vault held for its path.
 */
function watchSecrets(resourceVersion: string, rounds: () => readonly string[]) {
  const violations: string[] = [];
  let events = 0;
  let rv = resourceVersion;
  const run = { on: true };
  let current: ReturnType<typeof request> | undefined;
  const check = (type: string, s: SecretObject) => {
    if (!NAMESPACES.includes(s.metadata.namespace) || !s.metadata.name.startsWith('s-')) return;
    events++;
    const where = `${s.metadata.namespace}/${s.metadata.name}`;
    if (type === 'DELETED') return violations.push(`${where} deleted`);
    const p = pathOf(Number(s.metadata.name.slice(2)));
    const data = decode(s.data);
    const ok = rounds().some((r) => JSON.stringify(data) === JSON.stringify({ path: `p${p}`, value: value(r, p) }));
    // Names the keys only: the values are canaries.
    if (!ok) violations.push(`${where} ${type} with keys [${Object.keys(data).join(',')}] not a value Vault held`);
  };
  const once = () =>
    new Promise<void>((resolve) => {
      const url = new URL(`/api/v1/secrets?watch=true&resourceVersion=${rv}&timeoutSeconds=600`, env.kube.url);
      current = request(url, { ...env.kube.tls, headers: { accept: 'application/json' } }, (res) => {
        if (res.statusCode !== 200) {
          violations.push(`watch answered HTTP ${res.statusCode ?? 0}`);
          run.on = false;
        }
        let buf = '';
        res.on('data', (chunk: Buffer) => {
          buf += chunk.toString('utf8');
          let nl: number;
          while ((nl = buf.indexOf('\n')) >= 0) {
            const line = buf.slice(0, nl);
            buf = buf.slice(nl + 1);
            if (line.trim() === '') continue;
            const ev = JSON.parse(line) as { type: string; object: SecretObject };
            if (ev.type === 'ERROR' || res.statusCode !== 200) {
              violations.push(`watch error: ${JSON.stringify(ev.object).slice(0, 200)}`);
              continue;
            }
            rv = ev.object.metadata.resourceVersion;
            check(ev.type, ev.object);
          }
        });
        res.on('close', resolve);
      });
      current.on('error', () => resolve());
      current.end();
    });
  const loop = (async () => {
    // The apiserver ends a watch after its timeout; resume from the last resourceVersion seen.
    while (run.on) {
      await once();
      await sleep(200);
    }
  })();
  return {
    violations,
    events: () => events,
    stop: async () => {
      run.on = false;
      current?.destroy();
      await loop;
    },
  };
}

/**
 * Asks every running node directly (not through the proxy, no redirect followed) for one secret
 * every 200 ms and tallies the answers, e.g. `n2 307 -> n1` for a standby redirecting to node n1's
 * address, `n2 200` for one that forwarded to the active node (or is active), `n2 503`.
 */
function probeNodes(nodes: readonly VaultNode[], token: string) {
  const seen = new Map<string, number>();
  const run = { on: true };
  const nodeAt = (location: string | undefined) =>
    nodes.find((n) => location?.startsWith(`${n.addr}/`))?.id ?? `outside the cluster (${location ?? 'none'})`;
  const ask = (n: VaultNode) =>
    new Promise<string>((resolve) => {
      const req = httpRequest(`${n.addr}/v1/secret/data/ha/p0`, {
        headers: { 'x-vault-token': token },
        timeout: 5_000,
      });
      req.on('response', (res) => {
        res.resume();
        const code = res.statusCode ?? 0;
        resolve(code >= 300 && code < 400 ? `${code} -> ${nodeAt(res.headers.location)}` : String(code));
      });
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
      req.end();
    });
  const loop = (async () => {
    while (run.on) {
      for (const n of nodes) {
        if (!n.proc.running) continue;
        const answer = `${n.id} ${await ask(n)}`;
        seen.set(answer, (seen.get(answer) ?? 0) + 1);
      }
      await sleep(200);
    }
  })();
  return {
    seen,
    stop: async () => {
      run.on = false;
      await loop;
    },
  };
}

const vaultRequests = (m: readonly Sample[]) => {
  const out: Record<string, number> = {};
  for (const s of m)
    if (s.name === 'vaultsync_vault_requests_total') out[`${s.labels.operation} ${s.labels.code}`] = s.value;
  return out;
};

/** Vault requests the controller made and connections the proxy passed in 6 s of normal refreshes. */
async function steadyState(ctlUrl: string): Promise<void> {
  const before = await scrape(ctlUrl);
  proxy!.takeCounts();
  await sleep(6_000);
  const after = await scrape(ctlUrl);
  const counts = proxy!.takeCounts();
  const requests = metric(after, 'vaultsync_vault_requests_total') - metric(before, 'vaultsync_vault_requests_total');
  figure('ha.steady_vault_requests_6s', requests);
  figure(
    'ha.steady_proxy_connections_6s',
    Object.values(counts.connections).reduce((a, b) => a + b, 0),
  );
}

/**
 * SIGKILLs the active node, writes round `round` to the new active node once it is elected, and
 * returns when every Secret holds it: the milliseconds from the kill, and what the nodes answered.
 */
async function failover(c: VaultCluster, round: string) {
  const active = await c.leader();
  const probe = probeNodes(c.nodes, c.rootToken);
  const tKill = Date.now();
  try {
    await c.kill(active);
    const newActive = await c.waitLeader(60_000);
    const electedMs = Date.now() - tKill;
    // Written to the new active node itself: through the proxy it could meet a standby still redirecting.
    await writeAll(c.endpoint(newActive), round);
    const writtenMs = Date.now() - tKill;
    await waitFor(`all 50 Secrets at ${round}`, () => allAt(round), 90_000, 250);
    const resumeMs = Date.now() - tKill;
    figure('ha.killed_active', active.id);
    figure('ha.new_active', newActive.id);
    figure('ha.new_active_after_kill_ms', electedMs, 'ms');
    figure(`ha.${round}_written_after_kill_ms`, writtenMs, 'ms');
    figure(`ha.all_50_secrets_at_${round}_after_kill_ms`, resumeMs, 'ms');
    figure(`ha.all_50_secrets_at_${round}_after_write_ms`, resumeMs - writtenMs, 'ms');
    return { killed: active, newActive, resumeMs, answers: probe.seen };
  } finally {
    await probe.stop();
  }
}

/** What the controller and the proxy saw during the failover, as figures. */
function reportFailover(c: VaultCluster, m0: readonly Sample[], m1: readonly Sample[], logFile: string): void {
  const before = vaultRequests(m0);
  for (const [k, v] of Object.entries(vaultRequests(m1)))
    if (v - (before[k] ?? 0) > 0) figure(`ha.controller_vault_requests_during_failover[${k}]`, v - (before[k] ?? 0));
  const counts = proxy!.takeCounts();
  for (const n of c.nodes)
    figure(`ha.proxy_connections_during_failover[${n.id}]`, counts.connections[`127.0.0.1:${n.apiPort}`] ?? 0);
  figure('ha.proxy_connects_refused', counts.refused);
  figure('ha.proxy_connections_dropped', counts.dropped);
  // The proxy accepts every connection, so a refusal the controller meets is at an address a 307 named.
  const refused = readFileSync(logFile, 'utf8')
    .split('\n')
    .filter((l) => l.includes('ECONNREFUSED')).length;
  figure('ha.controller_log_lines_econnrefused', refused);
}

/** Restarts the killed node and waits until it is a healthy voter again and has applied the log. */
async function rejoin(c: VaultCluster, node: VaultNode, leader: VaultNode): Promise<void> {
  const t = Date.now();
  await c.restart(node, 90_000);
  const leaderIndex = (await must<{ raft_committed_index: number }>(c.endpoint(leader), 'GET', '/v1/sys/leader')).body
    .raft_committed_index;
  await waitFor(`${node.id} caught up with the Raft log`, async () => {
    const r = await must<{ raft_applied_index: number }>({ url: node.addr }, 'GET', '/v1/sys/leader');
    return r.body.raft_applied_index >= leaderIndex;
  });
  figure('ha.rejoined_after_restart_ms', Date.now() - t, 'ms');
  expect((await c.leader()).id).toBe(leader.id);
  expect((await call(c.endpoint(node), 'GET', '/v1/sys/health')).status).toBe(429); // a standby
}

describe('Vault HA: the active OpenBao node is SIGKILLed behind the one address', () => {
  it(
    'loses, blanks or changes no Secret, syncs a value written after the failover within 30 s, and the node rejoins',
    track(async () => {
      const c = cluster!;
      for (const ns of NAMESPACES) await env.createServiceAccount(ns, 'app');
      await env.policy('ha-read', 'path "secret/data/ha/*" { capabilities = ["read"] }');
      await env.role('ha', { serviceAccounts: ['app'], namespaces: NAMESPACES, policies: ['ha-read'] });
      const rounds = ['v1'];
      await writeAll(env.vault, 'v1');
      for (const { ns, i } of names())
        await createSecretSync(
          env,
          secretSync(ns, `ss-${i}`, {
            vault: { kv: { path: `ha/p${pathOf(i)}` } },
            auth: { kubernetes: { role: 'ha', serviceAccountName: 'app' } },
            target: { name: `s-${i}` },
            refresh: { interval: '5s' },
          }),
        );
      let t = Date.now();
      // The nodes' own api_addrs are allowed: a standby's 307 during the failover names one of them.
      const ctl = await env.startController([
        `--namespaces=${NAMESPACES.join(',')}`,
        `--vault-allowed-addresses=${c.nodes.map((n) => n.addr).join(',')}`,
      ]);
      await waitFor('all 50 Secrets at v1', () => allAt('v1'), 90_000, 500);
      figure('ha.initial_sync_ms', Date.now() - t, 'ms');
      const uids = new Map(
        (await Promise.all(NAMESPACES.map((ns) => listSecrets(env, ns))))
          .flat()
          .map((s) => [`${s.metadata.namespace}/${s.metadata.name}`, s.metadata.uid]),
      );

      const list = await must<{ metadata: { resourceVersion: string } }>(env.kube, 'GET', '/api/v1/secrets?limit=1');
      const watch = watchSecrets(list.body.metadata.resourceVersion, () => rounds);
      try {
        await steadyState(ctl.url);
        const m0 = await scrape(ctl.url);
        // Pushed before the kill: the watch accepts v2 from the moment it may be written.
        rounds.push('v2');
        const f = await failover(c, 'v2');
        reportFailover(c, m0, await scrape(ctl.url), ctl.proc.logFile);
        for (const [answer, n] of [...f.answers].sort()) figure(`ha.node_answers_during_failover[${answer}]`, n);
        // A standby redirects only to an address of the cluster (the api_addr of the node it took as active).
        expect([...f.answers.keys()].filter((a) => a.includes('outside the cluster'))).toEqual([]);
        expect(f.resumeMs).toBeLessThanOrEqual(RESUME_LIMIT_MS);

        await rejoin(c, f.killed, f.newActive);
        // With the old active node back as a standby behind the proxy, syncing goes on.
        rounds.push('v3');
        t = Date.now();
        await writeAll(env.vault, 'v3');
        await waitFor('all 50 Secrets at v3', () => allAt('v3'), 30_000, 250);
        figure('ha.all_50_secrets_at_v3_after_rejoin_ms', Date.now() - t, 'ms');
        await sleep(1_000);
      } finally {
        await watch.stop();
      }

      figure('ha.secret_events_watched', watch.events());
      figure('ha.secret_violations', watch.violations.length);
      expect(watch.violations).toEqual([]);
      expect(watch.events()).toBeGreaterThanOrEqual(100); // v2 and v3 reached all 50
      for (const ns of NAMESPACES) {
        for (const s of await listSecrets(env, ns))
          if (s.metadata.name.startsWith('s-')) expect(s.metadata.uid).toBe(uids.get(`${ns}/${s.metadata.name}`));
        expect(countReady(await listSecretSyncs(env, ns), 'True')).toBe(PER_NAMESPACE);
      }
      expect(ctl.proc.running).toBe(true);
      const values = rounds.flatMap((r) => Array.from({ length: PATHS }, (_, p) => value(r, p)));
      await assertNoCanaries(env, { canaries: values, metricsUrls: [ctl.url] });
    }),
    240_000,
  );
});
