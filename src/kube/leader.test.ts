import type { ServerResponse } from 'node:http';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { kubeClients } from './client.js';
import { LeaderElector, electionIdentity, type ElectionEnd, type LeaderElectorOptions } from './leader.js';
import { FakeApiServer, sendJson, sendStatus, type Recorded } from './testing/fake-apiserver.js';
import { recordingLogger } from '../core/testing/logger.js';

const LEASES = '/apis/coordination.k8s.io/v1/namespaces/ops/leases';
const LEASE = `${LEASES}/vaultsync-leader`;
// Small but ordered like the defaults (15s / 10s / 2s); the Lease itself records 1 second.
const TIMING = { leaseDurationMs: 1000, renewDeadlineMs: 600, retryPeriodMs: 100 };
const MICRO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/;

interface Spec {
  holderIdentity?: string;
  leaseDurationSeconds?: number;
  acquireTime?: string;
  renewTime?: string;
  leaseTransitions?: number;
}
interface Lease {
  metadata: { name: string; namespace: string; resourceVersion?: string; annotations?: Record<string, string> };
  spec: Spec;
}

/** The Lease endpoints with the API server's optimistic concurrency: a stale resourceVersion is a 409. */
class LeaseStore {
  lease: Lease | undefined;
  private rv = 0;
  mode: 'ok' | 'fail' | 'hang' = 'ok';
  /** Runs before a PUT is checked, to play a concurrent writer. */
  beforePut: (() => void) | undefined;
  readonly answers: { method: string; status: number; spec?: Spec }[] = [];

  constructor(server: FakeApiServer) {
    server.route('GET', LEASE, (_req, res) => {
      if (this.interfere(res)) return;
      if (this.lease === undefined) this.answer(res, 'GET', 404);
      else this.answer(res, 'GET', 200, this.lease);
    });
    server.route('POST', LEASES, (req, res) => {
      if (this.interfere(res)) return;
      if (this.lease !== undefined) return this.answer(res, 'POST', 409);
      this.answer(res, 'POST', 201, this.put(body(req)));
    });
    server.route('PUT', LEASE, (req, res) => {
      if (this.interfere(res)) return;
      this.beforePut?.();
      const b = body(req);
      if (this.lease === undefined) return this.answer(res, 'PUT', 404);
      if (b.metadata.resourceVersion !== this.lease.metadata.resourceVersion) return this.answer(res, 'PUT', 409);
      this.answer(res, 'PUT', 200, this.put(b));
    });
  }

  /** Stores a Lease as the API server would (new resourceVersion); also used to seed and to play other holders. */
  put(lease: { spec: Spec; metadata?: Partial<Lease['metadata']> }): Lease {
    this.rv++;
    this.lease = {
      metadata: {
        name: 'vaultsync-leader',
        namespace: 'ops',
        resourceVersion: String(this.rv),
        ...(lease.metadata?.annotations ? { annotations: lease.metadata.annotations } : {}),
      },
      spec: lease.spec,
    };
    return this.lease;
  }

  lastRenewedAs = 0;

  /** Another replica renews: same holder, a new renewTime. */
  renewAs(holder: string): void {
    this.lastRenewedAs = Date.now();
    this.put({ spec: { ...this.lease?.spec, holderIdentity: holder, renewTime: new Date().toISOString() } });
  }

  writes(method?: string): { method: string; status: number; spec?: Spec }[] {
    return this.answers.filter((a) => a.method !== 'GET' && (method === undefined || a.method === method));
  }

  private interfere(res: ServerResponse): boolean {
    if (this.mode === 'fail') sendStatus(res, 500, 'InternalError', 'etcd is down');
    return this.mode !== 'ok';
  }

  private answer(res: ServerResponse, method: string, status: number, lease?: Lease): void {
    this.answers.push({ method, status, spec: lease?.spec });
    if (lease === undefined) sendStatus(res, status, status === 404 ? 'NotFound' : 'Conflict', `lease: ${status}`);
    else sendJson(res, status, { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', ...lease });
  }
}

const body = (req: Recorded) => JSON.parse(req.body) as Lease;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(what: string, pred: () => boolean, timeoutMs = 3000): Promise<number> {
  const t0 = Date.now();
  while (!pred()) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
  return Date.now();
}

let server: FakeApiServer;
let store: LeaseStore;
const stops: AbortController[] = [];

beforeEach(async () => {
  server = await FakeApiServer.start();
  store = new LeaseStore(server);
});
afterEach(async () => {
  for (const s of stops.splice(0)) s.abort();
  await server.close();
});

function candidate(identity: string, over: Partial<LeaderElectorOptions> = {}) {
  const log = recordingLogger();
  const calls = { started: [] as number[], stopped: [] as { at: number; leader: boolean }[] };
  const elector: LeaderElector = new LeaderElector({
    coordination: kubeClients(server.kubeConfig()).coordination,
    namespace: 'ops',
    name: 'vaultsync-leader',
    identity,
    ...TIMING,
    log,
    onStartedLeading: () => calls.started.push(Date.now()),
    onStoppedLeading: () => calls.stopped.push({ at: Date.now(), leader: elector.isLeader() }),
    ...over,
  });
  const stop = new AbortController();
  stops.push(stop);
  let end: ElectionEnd | undefined;
  const done = elector.run(stop.signal).then((e) => (end = e));
  return { elector, calls, log, stop, done, ended: () => end };
}

describe('LeaderElector', () => {
  it('creates a missing Lease, leads, renews it with its resourceVersion, and releases it on stop', async () => {
    const a = candidate('a');
    await until('a leads', () => a.elector.isLeader());
    const [created] = store.writes('POST');
    expect(created?.status).toBe(201);
    expect(created?.spec).toMatchObject({ holderIdentity: 'a', leaseDurationSeconds: 1, leaseTransitions: 0 });
    // The API server's MicroTime wants exactly six fractional digits.
    expect(created?.spec?.renewTime).toMatch(MICRO);
    expect(created?.spec?.acquireTime).toBe(created?.spec?.renewTime);
    expect(a.calls.started).toHaveLength(1);

    // Renewals come every 100 ms; wait for two rather than sleeping a fixed time (a loaded CI machine
    // once had only one after 350 ms).
    await until('two renewals', () => store.writes('PUT').length >= 2);
    const renewals = store.writes('PUT');
    expect(renewals.every((r) => r.status === 200)).toBe(true);
    const times = renewals.map((r) => Date.parse(r.spec?.renewTime ?? ''));
    expect([...times].sort()).toEqual(times);
    expect(new Set(times).size).toBe(times.length);
    for (const r of renewals) {
      expect(r.spec).toMatchObject({
        holderIdentity: 'a',
        acquireTime: created?.spec?.acquireTime,
        leaseTransitions: 0,
      });
    }

    a.stop.abort();
    expect(await a.done).toBe('stopped');
    expect(a.elector.isLeader()).toBe(false);
    expect(a.calls.stopped).toEqual([{ at: expect.any(Number) as number, leader: false }]);
    expect(store.lease?.spec).toMatchObject({ holderIdentity: '', leaseTransitions: 0 });
  });

  it('publishes the holder annotations while leading, keeps others, and removes its own on release', async () => {
    const ADDR = 'vaultsync.io/webhook-address';
    store.put({ spec: {}, metadata: { annotations: { 'someone.else/note': 'kept' } } });
    const a = candidate('a', { holderAnnotations: { [ADDR]: '10.0.0.1:8443' } });
    await until('a leads', () => a.elector.isLeader());
    expect(store.lease?.metadata.annotations).toEqual({ 'someone.else/note': 'kept', [ADDR]: '10.0.0.1:8443' });
    expect(a.elector.leaderAnnotation(ADDR)).toBeUndefined(); // its own: not "the leader's" from here
    const b = candidate('b', { holderAnnotations: { [ADDR]: '10.0.0.2:8443' } });
    await until('b sees a', () => b.elector.leaderAnnotation(ADDR) !== undefined);
    expect(b.elector.leaderAnnotation(ADDR)).toBe('10.0.0.1:8443');

    a.stop.abort();
    await a.done;
    expect(store.lease?.metadata.annotations).toEqual({ 'someone.else/note': 'kept' });
    await until('b leads', () => b.elector.isLeader());
    expect(store.lease?.metadata.annotations?.[ADDR]).toBe('10.0.0.2:8443');
  });

  it('waits while another replica keeps renewing, then takes over a lease duration after the last renewal', async () => {
    store.put({ spec: { holderIdentity: 'b', leaseDurationSeconds: 1, leaseTransitions: 4 } });
    const renewing = setInterval(() => store.renewAs('b'), 100);
    const a = candidate('a');
    try {
      await sleep(1500);
      expect(a.elector.isLeader()).toBe(false);
      expect(a.elector.leader()).toBe('b');
      expect(store.writes()).toEqual([]);
    } finally {
      clearInterval(renewing);
    }
    const lastRenewal = store.lastRenewedAs;
    const led = await until('a leads', () => a.elector.isLeader());
    expect(led - lastRenewal).toBeGreaterThanOrEqual(TIMING.leaseDurationMs - 20);
    expect(led - lastRenewal).toBeLessThan(TIMING.leaseDurationMs + 400);
    expect(store.lease?.spec).toMatchObject({ holderIdentity: 'a', leaseTransitions: 5 });
    expect(Date.parse(store.lease?.spec.acquireTime ?? '')).toBeGreaterThanOrEqual(lastRenewal);
  });

  it('judges expiry by its own observation, not by the holder clock: an old renewTime still waits a lease duration', async () => {
    const hourAgo = new Date(Date.now() - 3_600_000).toISOString();
    store.put({ spec: { holderIdentity: 'b', leaseDurationSeconds: 1, renewTime: hourAgo, leaseTransitions: 1 } });
    const t0 = Date.now();
    const a = candidate('a');
    const led = await until('a leads', () => a.elector.isLeader());
    expect(led - t0).toBeGreaterThanOrEqual(TIMING.leaseDurationMs - 20);
    expect(store.lease?.spec).toMatchObject({ holderIdentity: 'a', leaseTransitions: 2 });
  });

  it('releases even when a renew it gave up on reached the API server (409 → read → release)', async () => {
    const a = candidate('a');
    await until('a leads', () => a.elector.isLeader());
    // Play a renew whose answer was lost: the stored Lease moves on, the elector's copy does not.
    let once = true;
    store.beforePut = () => {
      if (!once) return;
      once = false;
      store.renewAs('a');
    };
    await a.elector.release();
    expect(store.lease?.spec.holderIdentity).toBe('');
    const puts = store.writes('PUT');
    expect(puts.at(-2)?.status).toBe(409);
    expect(puts.at(-1)).toMatchObject({ status: 200, spec: { holderIdentity: '' } });
  });

  it('takes a released lease (empty holder) at once', async () => {
    store.put({ spec: { holderIdentity: '', leaseDurationSeconds: 1, leaseTransitions: 2 } });
    const t0 = Date.now();
    const a = candidate('a');
    const led = await until('a leads', () => a.elector.isLeader());
    expect(led - t0).toBeLessThan(500);
    expect(store.lease?.spec).toMatchObject({ holderIdentity: 'a', leaseTransitions: 3 });
  });

  it.each(['fail', 'hang'] as const)(
    'stops leading within the renew deadline when renewals %s, and writes nothing after',
    async (mode) => {
      const a = candidate('a');
      await until('a leads', () => a.elector.isLeader());
      await sleep(150);
      const lastOk = Date.parse(store.lease?.spec.renewTime ?? '');
      store.mode = mode;
      await until('a steps down', () => a.calls.stopped.length > 0, 2000);
      const lostAt = a.calls.stopped[0]?.at ?? 0;
      // Gave up before the lease could expire for a standby, and no earlier than the deadline allows.
      expect(lostAt - lastOk).toBeLessThan(TIMING.leaseDurationMs);
      expect(lostAt - lastOk).toBeGreaterThanOrEqual(TIMING.renewDeadlineMs - 20);
      expect(a.calls.stopped).toEqual([{ at: lostAt, leader: false }]);
      expect(await a.done).toBe('lost');
      const before = server.requests.length;
      await sleep(300);
      expect(server.requests.length).toBe(before);
      expect(a.log.entries.some((e) => e.level === 'error' && e.msg?.includes('leadership lost'))).toBe(true);
    },
  );

  it('stops leading at once, before the deadline, when another identity holds the lease', async () => {
    const a = candidate('a');
    await until('a leads', () => a.elector.isLeader());
    store.renewAs('intruder');
    const t0 = Date.now();
    const lostAt = await until('a steps down', () => a.calls.stopped.length > 0);
    expect(lostAt - t0).toBeLessThan(TIMING.retryPeriodMs + 250);
    expect(await a.done).toBe('lost');
    expect(store.lease?.spec.holderIdentity).toBe('intruder');
    expect(a.log.entries.some((e) => JSON.stringify(e.obj).includes('held by intruder'))).toBe(true);
  });

  it('loses a write race (409 on a stale resourceVersion) and then waits for the winner', async () => {
    store.put({ spec: { holderIdentity: '', leaseDurationSeconds: 1, leaseTransitions: 0 } });
    store.beforePut = () => {
      store.beforePut = undefined;
      store.renewAs('b');
    };
    const a = candidate('a');
    await until('a PUT answered', () => store.writes('PUT').length > 0);
    expect(store.writes('PUT')[0]?.status).toBe(409);
    await sleep(500);
    expect(a.elector.isLeader()).toBe(false);
    expect(store.writes('PUT')).toHaveLength(1);
    expect(store.lease?.spec.holderIdentity).toBe('b');
  });

  it('two candidates: one leads, never both; release hands over faster than expiry', async () => {
    const a = candidate('a');
    const b = candidate('b');
    const first = await until('one leads', () => a.elector.isLeader() || b.elector.isLeader());
    const [leader, standby] = a.elector.isLeader() ? [a, b] : [b, a];
    while (Date.now() - first < 800) {
      expect(a.elector.isLeader() && b.elector.isLeader()).toBe(false);
      await sleep(10);
    }
    expect(standby.calls.started).toEqual([]);
    const transitions = store.lease?.spec.leaseTransitions ?? -1;

    const t0 = Date.now();
    await leader.elector.release();
    expect(leader.ended()).toBe('stopped');
    expect(leader.calls.stopped).toHaveLength(1);
    const took = await until('standby leads', () => standby.elector.isLeader());
    expect(took - t0).toBeLessThan(TIMING.leaseDurationMs / 2);
    expect(store.lease?.spec.leaseTransitions).toBe(transitions + 1);
  });

  it('a standby that is stopped writes nothing', async () => {
    store.put({ spec: { holderIdentity: 'b', leaseDurationSeconds: 30, renewTime: new Date().toISOString() } });
    const a = candidate('a');
    await sleep(250);
    a.stop.abort();
    expect(await a.done).toBe('stopped');
    expect(a.calls).toEqual({ started: [], stopped: [] });
    expect(store.writes()).toEqual([]);
  });

  it('refuses timings that would let two replicas lead, and a second run', () => {
    const coordination = kubeClients(server.kubeConfig()).coordination;
    const base = { coordination, namespace: 'ops', name: 'l', identity: 'a', log: recordingLogger(), ...TIMING };
    expect(() => new LeaderElector({ ...base, renewDeadlineMs: 1000 })).toThrow(/renew deadline .* < lease duration/);
    expect(() => new LeaderElector({ ...base, retryPeriodMs: 600 })).toThrow(/retry period .* < renew deadline/);
    expect(() => new LeaderElector({ ...base, identity: '' })).toThrow(/identity/);
    const e = new LeaderElector(base);
    const stop = new AbortController();
    stop.abort();
    void e.run(stop.signal);
    expect(() => e.run(stop.signal)).toThrow(/once/);
  });
});

describe('electionIdentity', () => {
  it('adds a random suffix so two processes on one host differ', () => {
    expect(electionIdentity('pod-1', () => Buffer.from([0xab, 0xcd]))).toBe('pod-1_abcd');
    expect(electionIdentity('host')).not.toBe(electionIdentity('host'));
  });
});
