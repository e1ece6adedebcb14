/**
 * A snapshot at a phase boundary: wall time, Vault audit-log offset, apiserver and engine counters,
 * and CPU/RSS of every process of the environment. Phases are diffs of two snapshots.
 */
import type { TestEnv } from '../test/env/testenv.js';
import type { Client } from './client.js';
import { machineBusySeconds, pidsMatching, sampleProc, type ProcSample } from './procstats.js';
import { parseProm, type Sample } from './prom.js';
import { auditOffset } from './vault-audit.js';

export interface Snapshot {
  t: number;
  audit: number;
  api: Sample[];
  engine: Sample[];
  procs: Record<string, ProcSample | undefined>;
}

export interface Watched {
  kube: Client;
  auditFile: string;
  engineUrl?: string;
  enginePid?: number;
  /** etcd, kube-apiserver, bao: found by the environment's directory in their command lines. */
  envPids: { pid: number; name: string }[];
}

export function envProcesses(env: TestEnv): { pid: number; name: string }[] {
  return pidsMatching(env.dir)
    .filter((p) => ['etcd', 'kube-apiserver', 'bao', 'vault'].includes(p.name))
    .map((p) => ({ pid: p.pid, name: p.name === 'bao' ? 'vault' : p.name }));
}

export async function snapshot(w: Watched): Promise<Snapshot> {
  const t = Date.now();
  const audit = auditOffset(w.auditFile);
  const procs: Record<string, ProcSample | undefined> = { engine: sampleProc(w.enginePid) };
  for (const p of w.envPids) procs[p.name] = sampleProc(p.pid);
  // Every CPU second spent on the machine, to show what processes outside the bench took.
  procs.machine = { cpuSeconds: machineBusySeconds(), peakRssMiB: 0, rssMiB: 0 };
  const cpu = process.cpuUsage();
  procs.bench = {
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
    peakRssMiB: process.resourceUsage().maxRSS / 1024,
    rssMiB: process.memoryUsage().rss / 2 ** 20,
  };
  const [api, engine] = await Promise.all([
    w.kube
      .request<string>('GET', '/metrics', undefined, { accept: 'text/plain' })
      .then((r) => parseProm(r.text).filter((s) => s.name === 'apiserver_request_total')),
    w.engineUrl
      ? fetch(`${w.engineUrl}/metrics`)
          .then((r) => r.text())
          .then(parseProm)
          .catch(() => [] as Sample[])
      : Promise.resolve([] as Sample[]),
  ]);
  return { t, audit, api, engine, procs };
}

/** CPU seconds each process used between two snapshots. */
export function cpuBetween(a: Snapshot, b: Snapshot): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [name, s] of Object.entries(b.procs)) {
    // The engine is started right after the first snapshot: it used nothing before.
    const before = a.procs[name]?.cpuSeconds ?? (name === 'engine' ? 0 : undefined);
    if (s && before !== undefined) out[name] = round(s.cpuSeconds - before, 2);
  }
  if (out.machine !== undefined) {
    const ours = Object.entries(out)
      .filter(([k]) => k !== 'machine')
      .reduce((sum, [, v]) => sum + v, 0);
    out.outsideBench = round(out.machine - ours, 2);
  }
  return out;
}

/**
 * Waits until the engine has made no write for `quietMs` (events, for one, are flushed after the
 * status writes), at most `capMs`. Returns how long it waited.
 */
export async function settle(kube: Client, resource: string, quietMs: number, capMs: number): Promise<number> {
  const t0 = Date.now();
  const writes = async () => {
    const r = await kube.request<string>('GET', '/metrics', undefined, { accept: 'text/plain' });
    return parseProm(r.text)
      .filter(
        (x) => x.name === 'apiserver_request_total' && ['POST', 'PUT', 'PATCH', 'DELETE'].includes(x.labels.verb ?? ''),
      )
      .filter((x) => ['secrets', 'events', resource].includes(x.labels.resource ?? ''))
      .reduce((sum, x) => sum + x.value, 0);
  };
  let last = await writes();
  let quietSince = Date.now();
  while (Date.now() - t0 < capMs && Date.now() - quietSince < quietMs) {
    await new Promise((r) => setTimeout(r, 1000));
    const now = await writes();
    if (now !== last) quietSince = Date.now();
    last = now;
  }
  return Date.now() - t0;
}

export const round = (x: number, digits = 1): number => Math.round(x * 10 ** digits) / 10 ** digits;
