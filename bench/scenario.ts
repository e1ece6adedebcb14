/**
 * One engine, one fresh environment, all phases:
 *   setup → raw create rate → N objects → engine start → initial sync → settle → C steady cycles
 *   → new objects under load → (vaultsync, --webhook) push refresh → stop.
 * Each phase is the diff of two snapshots; Vault counts come from the audit log afterwards.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TestEnv } from '../test/env/testenv.js';
import { Client, sleep } from './client.js';
import type { Engine, Running } from './engines.js';
import {
  newSyncLatency,
  waitInitialSync,
  bareWriteLatency,
  webhookLatency,
  type InitialSync,
  type Latencies,
  type WebhookResult,
} from './phases.js';
import { apiWrites, diffCounters, type ApiWrites } from './prom.js';
import {
  createObjects,
  groupCount,
  measureRawCreates,
  namespacesOf,
  setupIdentities,
  specOf,
  writeKvPaths,
  type Layout,
  type RawRate,
} from './setup.js';
import { cpuBetween, envProcesses, round, settle, snapshot, type Snapshot, type Watched } from './snapshot.js';
import { auditHcl, countWindows, type VaultCounts } from './vault-audit.js';

export interface Params extends Layout {
  intervalMs: number;
  cycles: number;
  concurrency: number;
  newCount: number;
  /** How long to wait for the new objects after the first POST. */
  newCapMs: number;
  webhook: boolean;
  webhookCount: number;
  webhookRounds: number;
  timeoutMs: number;
  /** After the initial sync: wait for this long without engine writes (at most settleCapMs). */
  settleMs: number;
  settleCapMs: number;
  keep: boolean;
  /** Set with --profile: send the controller SIGUSR2 (a heap snapshot) at the end of the initial sync and of the last cycle. */
  profileDir?: string | undefined;
  /** --no-raw: no bare-client phase (and so no initial-sync ratio). */
  skipRaw?: boolean;
}

export interface Phase {
  name: string;
  seconds: number;
  /** Sync objects the engine reconciled (refreshes included), from its own counter. */
  reconciles: number;
  /**
   * Refreshes that did the work (read Vault for one object): vaultsync's syncs; for ESO its status
   * updates (each refresh moves status.refreshTime; its reconcile counter also counts the no-op
   * reconcile its own status update triggers).
   */
  refreshes: number;
  vault: VaultCounts;
  api: ApiWrites;
  cpuSeconds: Record<string, number>;
  /** The engine's resident and peak resident memory at the end of the phase, MiB. */
  engineRssMiB?: number;
  enginePeakRssMiB?: number;
  engineCounters: Record<string, number>;
  /** The engine's memory gauges at the end of the phase (V8 heap used/total, external), MiB. */
  engineMemoryMiB: Record<string, number>;
  /** Keys waiting in the engine's work queue at the end of the phase (vaultsync_queue_depth, ESO workqueue_depth). */
  engineQueueDepth?: number;
}

export interface ScenarioResult {
  engine: string;
  version: string;
  completed: boolean;
  error?: string;
  groups: number;
  versions: Record<string, string>;
  raw?: RawRate;
  objectCreate?: { seconds: number; perSecond: number };
  initial?: InitialSync & { perSecond: number; ratioToRaw?: number };
  phases: Phase[];
  steadyPerCycle?: {
    reconciles: number;
    refreshes: number;
    vault: VaultCounts;
    api: ApiWrites;
    cpuSeconds: Record<string, number>;
  };
  newSyncs?: Latencies;
  webhook?: WebhookResult;
  engineProcess?: { peakRssMiB: number; cpuSeconds: number; rssAtEndMiB: number };
  logDir?: string;
}

export interface Cleanups {
  add(fn: () => Promise<void>): () => void;
}

export async function runScenario(
  engine: Engine,
  p: Params,
  cleanups: Cleanups,
  log: (s: string) => void,
): Promise<ScenarioResult> {
  const result: ScenarioResult = {
    engine: engine.name,
    version: engine.version,
    completed: false,
    groups: groupCount(p),
    versions: {},
    phases: [],
  };
  const auditDir = mkdtempSync(join(tmpdir(), 'vaultsync-bench-audit-'));
  const auditFile = join(auditDir, 'audit.log');
  let env: TestEnv | undefined;
  let running: Running | undefined;
  const snaps: { name: string; s: Snapshot }[] = [];
  const stopAll = async () => {
    await running?.stop();
    await env?.stop(p.keep);
    // --keep keeps Vault's audit log too (every read with its time and path).
    if (p.keep) log(`[${engine.name}] Vault audit log kept: ${auditFile}`);
    else rmSync(auditDir, { recursive: true, force: true });
  };
  const removeCleanup = cleanups.add(stopAll);
  try {
    log(`[${engine.name}] starting etcd, kube-apiserver, OpenBao`);
    env = await TestEnv.start({ vaultHcl: auditHcl(auditFile), keep: p.keep });
    result.logDir = env.logDir;
    const kube = new Client(env.kube, Math.max(64, p.concurrency * 2));
    const vault = new Client(env.vault, 32);
    result.versions = await versions(kube, vault);
    await setupIdentities(env, p);
    await writeKvPaths(vault, p.k, 16);
    await engine.prepare(env, kube, namespacesOf(p));

    if (!p.skipRaw) {
      log(`[${engine.name}] raw writes: ${p.n} × (Secret POST + status PATCH) at concurrency ${p.concurrency}`);
      // CPU per process during the bare client's writes, to compare with the initial sync's (the
      // apiserver pays no watch of these objects here).
      const w: Watched = { kube, auditFile, envPids: envProcesses(env) };
      const cpu = async () => {
        const a = await snapshot(w);
        log(`  timed writes started`);
        return async () => cpuBetween(a, await snapshot(w));
      };
      result.raw = await measureRawCreates(env, kube, engine, p, p.concurrency, cpu);
      log(
        `  ${result.raw.perSecond.toFixed(0)} objects/s (${result.raw.seconds.toFixed(1)} s; deletecollection ${result.raw.deleteSeconds.toFixed(1)} s)`,
      );
    }

    log(`[${engine.name}] creating ${p.n} sync objects before the engine starts`);
    result.objectCreate = await createObjects(kube, engine, (i) => specOf(p, i), p.n, Math.max(32, p.concurrency));
    log(`  ${result.objectCreate.seconds.toFixed(1)} s`);

    const webhookKey = 'bench-webhook-key-0123456789abcdef';
    const extra: string[] = [];
    if (p.webhook && engine.name === 'vaultsync') {
      const keyFile = join(env.dir, 'webhook.key');
      writeFileSync(keyFile, `${webhookKey}\n`, { mode: 0o600 });
      extra.push(`--webhook-key-file=${keyFile}`, '--webhook-rate-limit=600');
    }
    const watched: Watched = { kube, auditFile, envPids: envProcesses(env) };
    const mark = async (name: string) => snaps.push({ name, s: await snapshot(watched) });
    await mark('start');
    const t0 = snaps[0]!.s.t;
    log(
      `[${engine.name}] starting the engine; waiting for ${p.n} Ready and ${p.n} Secrets (cap ${p.timeoutMs / 1000} s)`,
    );
    running = await engine.start(env, extra, p.timeoutMs);
    watched.enginePid = running.pid;
    watched.engineUrl = running.url;
    const expected = new Map(namespacesOf(p).map((ns, i) => [ns, countIn(p, i)]));
    const initial = await waitInitialSync(kube, engine, running, expected, t0, p.timeoutMs, log);
    await mark('initial');
    heapSnapshot(engine, running, p, log);
    result.initial = {
      ...initial,
      perSecond: initial.secrets / initial.seconds,
      ratioToRaw: initial.done && result.raw ? p.n / initial.seconds / result.raw.perSecond : undefined,
    };
    log(
      `  ${initial.done ? 'all synced' : 'NOT all synced'} after ${initial.seconds.toFixed(1)} s: ${initial.ready} Ready, ${initial.secrets} Secrets`,
    );

    if (initial.done) {
      const waited = await settle(kube, engine.resource, p.settleMs, p.settleCapMs);
      await mark('settled');
      log(`  writes quiet after ${(waited / 1000).toFixed(0)} s`);
      log(`[${engine.name}] steady state: ${p.cycles} × ${p.interval}`);
      const steadyStart = Date.now();
      for (let c = 1; c <= p.cycles; c++) {
        await sleep(Math.max(0, steadyStart + c * p.intervalMs - Date.now()));
        if (!running.running()) throw new Error(`${engine.name} exited in steady state; see ${running.logFile}`);
        await mark(`cycle-${c}`);
      }
      heapSnapshot(engine, running, p, log);

      if (p.newCount > 0) {
        log(`[${engine.name}] ${p.newCount} new objects over ${p.interval} while ${p.n} refresh`);
        const specs = Array.from({ length: p.newCount }, (_, i) => specOf(p, p.n + i, 'new-'));
        result.newSyncs = await newSyncLatency(kube, engine, specs, p.intervalMs, p.newCapMs);
        await mark('new');
        log(
          `  p50 ${fmtMs(result.newSyncs.p50Ms)}, p99 ${fmtMs(result.newSyncs.p99Ms)} (${result.newSyncs.done}/${p.newCount})`,
        );
      }

      if (p.webhook && engine.name === 'vaultsync') {
        log(`[${engine.name}] webhook: ${p.webhookCount} SecretSyncs on one path, ${p.webhookRounds} rounds`);
        const kvPath = 'bench/webhook';
        await vault.must('POST', `/v1/secret/data/${kvPath}`, { data: { username: 'webhook', password: 'initial' } });
        const whSpecs = Array.from({ length: p.webhookCount }, (_, i) => ({
          namespace: namespacesOf(p)[i % p.namespaces]!,
          name: `wh-ss-${i}`,
          path: kvPath,
          target: `wh-s-${i}`,
          interval: '1h',
        }));
        await createObjects(kube, engine, (i) => whSpecs[i]!, whSpecs.length, 16);
        await waitAllReady(
          kube,
          engine,
          whSpecs.map((s) => ({ namespace: s.namespace, name: s.name })),
          120_000,
        );
        await mark('webhook-setup');
        result.webhook = await webhookLatency({
          kube,
          vault,
          engineUrl: running.url,
          key: webhookKey,
          kvPath,
          targets: whSpecs.map((s) => ({ namespace: s.namespace, name: s.target })),
          rounds: p.webhookRounds,
          roundCapMs: 30_000,
        });
        await mark('webhook');
        // The floor: what this API server takes for the same Secret writes from a bare client, now.
        result.webhook.bare = await bareWriteLatency(
          kube,
          whSpecs.map((s) => ({ namespace: s.namespace, name: s.target })),
          p.webhookRounds,
          30_000,
          p.concurrency,
        );
        await mark('webhook-bare');
        log(
          `  p50 ${fmtMs(result.webhook.p50Ms)}, p99 ${fmtMs(result.webhook.p99Ms)}, last per round ${result.webhook.lastMs.join(', ')} ms`,
        );
        const bare = result.webhook.bare;
        log(
          `  bare client, the same Secret PUTs at concurrency ${bare.concurrency}: p50 ${fmtMs(bare.p50Ms)}, p99 ${fmtMs(bare.p99Ms)}, last per round ${bare.lastMs.join(', ')} ms`,
        );
      }
    }

    const last = snaps.at(-1)!.s.procs.engine;
    if (last)
      result.engineProcess = {
        peakRssMiB: round(last.peakRssMiB),
        cpuSeconds: round(last.cpuSeconds, 2),
        rssAtEndMiB: round(last.rssMiB),
      };
    await running.stop();
    running = undefined;
    result.completed = initial.done;
    kube.close();
    vault.close();
  } catch (err) {
    result.error = (err as Error).stack ?? String(err);
    log(`[${engine.name}] FAILED: ${(err as Error).message}`);
  } finally {
    try {
      fillPhases(result, snaps, auditFile, engine, p);
    } catch (err) {
      result.error = `${result.error ?? ''}\ncounting phases failed: ${(err as Error).message}`;
    }
    await stopAll();
    removeCleanup();
  }
  return result;
}

function heapSnapshot(engine: Engine, running: Running, p: Params, log: (s: string) => void): void {
  if (p.profileDir === undefined || engine.name !== 'vaultsync' || running.pid === undefined) return;
  process.kill(running.pid, 'SIGUSR2');
  log(`  heap snapshot requested (SIGUSR2) into ${p.profileDir}`);
}

/** Objects in namespace index `ns`: i ≡ ns (mod namespaces), 0 ≤ i < n. */
function countIn(p: Layout, ns: number): number {
  return Math.floor((p.n - 1 - ns) / p.namespaces) + 1;
}

async function waitAllReady(
  kube: Client,
  engine: Engine,
  objs: { namespace: string; name: string }[],
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (const o of objs) {
    for (;;) {
      const r = await kube.request<{ status?: { conditions?: { type: string; status: string }[] } }>(
        'GET',
        `${engine.objectsPath(o.namespace)}/${o.name}`,
      );
      if (r.body.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')) break;
      if (Date.now() > deadline) throw new Error(`${o.namespace}/${o.name} not Ready within ${timeoutMs / 1000} s`);
      await sleep(200);
    }
  }
}

function fillPhases(
  result: ScenarioResult,
  snaps: { name: string; s: Snapshot }[],
  auditFile: string,
  engine: Engine,
  p: Params,
): void {
  if (snaps.length < 2) return;
  const vault = countWindows(
    auditFile,
    snaps.map((x) => x.s.audit),
  );
  const keep = (name: string) => engine.metricPrefixes.some((pre) => name.startsWith(pre)) && !name.endsWith('_bucket');
  for (let i = 1; i < snaps.length; i++) {
    const a = snaps[i - 1]!.s;
    const b = snaps[i]!.s;
    const api = apiWrites(a.api, b.api, engine.resource);
    const reconciles = Object.entries(diffCounters(a.engine, b.engine, keep))
      .filter(([k]) => k.startsWith(engine.reconcileSeries))
      .reduce((sum, [, v]) => sum + v, 0);
    result.phases.push({
      name: snaps[i]!.name,
      seconds: round((b.t - a.t) / 1000, 2),
      reconciles,
      refreshes: engine.name === 'eso' ? api.syncStatus : reconciles,
      vault: vault[i - 1]!,
      api,
      cpuSeconds: cpuBetween(a, b),
      engineRssMiB: b.procs.engine ? round(b.procs.engine.rssMiB) : undefined,
      enginePeakRssMiB: b.procs.engine ? round(b.procs.engine.peakRssMiB) : undefined,
      engineCounters: diffCounters(a.engine, b.engine, keep),
      engineQueueDepth: queueDepth(b.engine, engine),
      engineMemoryMiB: Object.fromEntries(
        b.engine
          .filter((x) => /(heap_size_(used|total)|external_memory|resident_memory)_bytes$/.test(x.name))
          .map((x) => [x.name, round(x.value / 2 ** 20)]),
      ),
    });
  }
  const cycles = result.phases.filter((ph) => ph.name.startsWith('cycle-'));
  if (cycles.length === p.cycles && cycles.length > 0) {
    const mean = (f: (ph: Phase) => number) => round(cycles.reduce((s, ph) => s + f(ph), 0) / cycles.length, 1);
    const api0 = cycles[0]!.api;
    const v0 = cycles[0]!.vault;
    result.steadyPerCycle = {
      reconciles: mean((ph) => ph.reconciles),
      refreshes: mean((ph) => ph.refreshes),
      vault: {
        login: mean((ph) => ph.vault.login),
        read: mean((ph) => ph.vault.read),
        lookup: mean((ph) => ph.vault.lookup),
        renew: mean((ph) => ph.vault.renew),
        other: mean((ph) => ph.vault.other),
        total: mean((ph) => ph.vault.total),
        byPath: v0.byPath,
        readsPerPath: v0.readsPerPath,
      },
      api: {
        secrets: mean((ph) => ph.api.secrets),
        syncObjects: mean((ph) => ph.api.syncObjects),
        syncStatus: mean((ph) => ph.api.syncStatus),
        events: mean((ph) => ph.api.events),
        tokenRequests: mean((ph) => ph.api.tokenRequests),
        other: mean((ph) => ph.api.other),
        total: mean((ph) => ph.api.total),
        byResource: api0.byResource,
      },
      cpuSeconds: Object.fromEntries(
        Object.keys(cycles[0]!.cpuSeconds).map((k) => [k, mean((ph) => ph.cpuSeconds[k] ?? 0)]),
      ),
    };
  }
}

function queueDepth(samples: Snapshot['engine'], engine: Engine): number | undefined {
  const xs = samples.filter((x) =>
    engine.name === 'vaultsync'
      ? x.name === 'vaultsync_queue_depth'
      : x.name === 'workqueue_depth' && x.labels.name === 'externalsecret',
  );
  return xs.length === 0 ? undefined : xs.reduce((sum, x) => sum + x.value, 0);
}

async function versions(kube: Client, vault: Client): Promise<Record<string, string>> {
  const k = await kube.request<{ gitVersion?: string }>('GET', '/version');
  const v = await vault.request<{ version?: string }>('GET', '/v1/sys/seal-status');
  return { node: process.version, kubeApiserver: k.body.gitVersion ?? '?', openbao: v.body.version ?? '?' };
}

export const fmtMs = (x: number | undefined) => (x === undefined ? '—' : `${Math.round(x)} ms`);
