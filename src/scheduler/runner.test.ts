import { afterEach, describe, expect, it, vi } from 'vitest';
import { recordingLogger, type LogEntry } from '../core/testing/logger.js';
import { Runner, type ErrorClass, type RunnerDeps, type ReconcileFn } from './runner.js';
import { Priority } from './priority.js';
import { WorkQueue } from './workqueue.js';

/** The runner knows errors only through its classifier; these tests bring their own. */
class TestError extends Error {
  constructor(
    message: string,
    readonly options: { terminal?: boolean; dependency?: string } = {},
  ) {
    super(message);
  }
}
const fail = (message: string, options: { terminal?: boolean; dependency?: string } = {}) =>
  new TestError(message, options);
function classify(err: unknown): ErrorClass {
  if (!(err instanceof TestError))
    return { terminal: false, expected: false, summary: err instanceof Error ? err.name : 'thrown' };
  return {
    terminal: err.options.terminal ?? false,
    expected: true,
    summary: err.message,
    ...(err.options.dependency === undefined ? {} : { dependency: err.options.dependency }),
  };
}

function deferred(): { promise: Promise<void>; resolve: () => void; reject: (e: unknown) => void } {
  let resolve!: () => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

function setup(
  reconcile: ReconcileFn,
  overrides: Partial<RunnerDeps> = {},
): { controller: Runner; queue: WorkQueue; lines: LogEntry[] } {
  const log = recordingLogger();
  const lines = log.entries;
  const queue = overrides.queue ?? new WorkQueue({ backoff: { baseMs: 1_000, maxMs: 60_000, rand: () => 1 } });
  const controller = new Runner({
    queue,
    reconcile,
    classify,
    waitForCacheSync: () => Promise.resolve(),
    concurrency: 1,
    log,
    ...overrides,
  });
  return { controller, queue, lines };
}

describe('Runner', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('never reconciles one key concurrently under 4 workers, 100 adds of 10 keys', async () => {
    const running = new Set<string>();
    const overlaps: string[] = [];
    const runs = new Map<string, number>();
    let maxParallel = 0;
    const reconcile: ReconcileFn = async ({ key }) => {
      if (running.has(key)) overlaps.push(key);
      running.add(key);
      maxParallel = Math.max(maxParallel, running.size);
      runs.set(key, (runs.get(key) ?? 0) + 1);
      await new Promise((r) => setTimeout(r, Math.random() * 3));
      running.delete(key);
      return {};
    };
    const { controller, queue } = setup(reconcile, { concurrency: 4 });
    await controller.start();
    for (let i = 0; i < 100; i++) {
      queue.add(`ns/k${i % 10}`, i % 3 === 0 ? Priority.Push : Priority.New);
      if (i % 7 === 0) await new Promise((r) => setTimeout(r, 1));
    }
    await vi.waitFor(() => {
      expect(queue.len() + queue.stats().processing).toBe(0);
    });
    await controller.stop();
    expect(overlaps).toEqual([]);
    expect(maxParallel).toBeGreaterThan(1);
    expect(runs.size).toBe(10);
    // Duplicates collapsed: far fewer runs than adds.
    expect([...runs.values()].reduce((a, b) => a + b, 0)).toBeLessThan(100);
  });

  it('does not retry a terminal error and forgets its backoff', async () => {
    vi.useFakeTimers({ now: 0 });
    const reconcile = vi.fn<ReconcileFn>(() =>
      Promise.reject(fail('spec.refresh.interval is below the minimum', { terminal: true })),
    );
    const { controller, queue, lines } = setup(reconcile);
    await controller.start();
    queue.addRateLimited('ns/a');
    await vi.advanceTimersByTimeAsync(1_000);
    expect(reconcile).toHaveBeenCalledTimes(1);
    expect(queue.retries('ns/a')).toBe(0);
    expect(queue.stats()).toMatchObject({ delayed: 0, backoff: 0, processing: 0 });
    await vi.advanceTimersByTimeAsync(600_000);
    expect(reconcile).toHaveBeenCalledTimes(1);
    expect(lines.find((l) => l.level === 'warn')?.obj).toMatchObject({
      key: 'ns/a',
      error: 'spec.refresh.interval is below the minimum',
    });
    await controller.stop();
  });

  it('retries other errors with growing backoff and forgets it on success', async () => {
    vi.useFakeTimers({ now: 0 });
    const times: number[] = [];
    let failures = 3;
    const reconcile: ReconcileFn = () => {
      times.push(Date.now());
      if (failures-- > 0) return Promise.reject(fail('Vault at https://vault:8200 timed out', { dependency: 'vault' }));
      return Promise.resolve({});
    };
    const { controller, queue } = setup(reconcile);
    await controller.start();
    queue.add('ns/a', Priority.New);
    await vi.advanceTimersByTimeAsync(0);
    expect(queue.retries('ns/a')).toBe(1);
    await vi.advanceTimersByTimeAsync(20_000);
    expect(times).toEqual([0, 1_000, 3_000, 7_000]);
    expect(queue.retries('ns/a')).toBe(0);
    expect(queue.stats()).toMatchObject({ delayed: 0, backoff: 0 });
    await controller.stop();
  });

  it('retries an unexpected error and never logs the error object (it may carry tokens)', async () => {
    vi.useFakeTimers({ now: 0 });
    const canary = 'hvs.CANARY-token-do-not-log';
    const reconcile: ReconcileFn = () => {
      const err = Object.assign(new Error('request failed'), { config: { headers: { 'X-Vault-Token': canary } } });
      return Promise.reject(err);
    };
    const { controller, queue, lines } = setup(reconcile);
    await controller.start();
    queue.add('ns/a', Priority.New);
    await vi.advanceTimersByTimeAsync(0);
    expect(queue.retries('ns/a')).toBe(1);
    expect(queue.stats().delayed).toBe(1);
    const logged = lines.find((l) => l.level === 'error');
    expect(logged?.obj).toMatchObject({ key: 'ns/a', error: 'Error' });
    expect(JSON.stringify(lines)).not.toContain(canary);
    await controller.stop();
  });

  it('requeues after exactly requeueAfterMs, as Periodic', async () => {
    vi.useFakeTimers({ now: 0 });
    const seen = new Map<string, number[]>();
    const reconcile: ReconcileFn = ({ key }) => {
      seen.set(key, [...(seen.get(key) ?? []), Date.now()]);
      return Promise.resolve({ requeueAfterMs: 100_000 });
    };
    const priorities: Priority[] = [];
    const queue = new WorkQueue({ onDequeue: (_k, _w, p) => priorities.push(p) });
    const { controller } = setup(reconcile, { queue, concurrency: 4 });
    await controller.start();
    for (let i = 0; i < 200; i++) queue.add(`ns/k${i}`, Priority.New);
    await vi.advanceTimersByTimeAsync(99_999);
    expect([...seen.values()].every((t) => t.length === 1)).toBe(true);
    await vi.advanceTimersByTimeAsync(1);
    const second = [...seen.values()].map((t) => t[1]!);
    expect(second).toHaveLength(200);
    expect(new Set(second)).toEqual(new Set([100_000]));
    expect(priorities.slice(200).every((p) => p === Priority.Periodic)).toBe(true);
    await controller.stop();
  });

  it('takes the requeue delay as it is: the timing policy already spread it', async () => {
    vi.useFakeTimers({ now: 0 });
    const times: number[] = [];
    const reconcile: ReconcileFn = () => {
      times.push(Date.now());
      return Promise.resolve({ requeueAfterMs: 10_000 });
    };
    const { controller, queue } = setup(reconcile);
    await controller.start();
    queue.add('ns/a', Priority.New);
    await vi.advanceTimersByTimeAsync(20_000);
    expect(times).toEqual([0, 10_000, 20_000]);
    await controller.stop();
  });

  it('starts workers only after the cache sync resolves', async () => {
    const sync = deferred();
    const reconcile = vi.fn<ReconcileFn>(() => Promise.resolve({}));
    const { controller, queue } = setup(reconcile, { waitForCacheSync: () => sync.promise, concurrency: 3 });
    queue.add('ns/a', Priority.New);
    const started = controller.start();
    await new Promise((r) => setTimeout(r, 10));
    expect(reconcile).not.toHaveBeenCalled();
    expect(controller.health()).toMatchObject({ running: false, workers: [] });
    sync.resolve();
    await started;
    await vi.waitFor(() => {
      expect(reconcile).toHaveBeenCalledWith(
        { key: 'ns/a', priority: Priority.New, fresh: false },
        expect.any(AbortSignal),
      );
    });
    expect(controller.health()).toMatchObject({ running: true });
    expect(controller.health().workers).toHaveLength(3);
    await controller.stop();
    expect(controller.health().running).toBe(false);
  });

  it('rejects start when the cache sync fails, starting no worker', async () => {
    const reconcile = vi.fn<ReconcileFn>(() => Promise.resolve({}));
    const { controller, queue } = setup(reconcile, {
      waitForCacheSync: () => Promise.reject(new Error('informer list failed: 403')),
    });
    queue.add('ns/a', Priority.New);
    await expect(controller.start()).rejects.toThrow('informer list failed');
    expect(controller.health().workers).toHaveLength(0);
    await expect(controller.start()).rejects.toThrow('only once');
    expect(reconcile).not.toHaveBeenCalled();
  });

  it('stop during the cache sync aborts the wait and starts nothing', async () => {
    let syncSignal: AbortSignal | undefined;
    const reconcile = vi.fn<ReconcileFn>(() => Promise.resolve({}));
    const { controller, queue } = setup(reconcile, {
      waitForCacheSync: (signal) =>
        new Promise((_res, rej) => {
          syncSignal = signal;
          signal.addEventListener('abort', () => {
            rej(new Error('aborted'));
          });
        }),
    });
    queue.add('ns/a', Priority.New);
    const started = controller.start();
    await controller.stop();
    await expect(started).resolves.toBeUndefined();
    expect(syncSignal?.aborted).toBe(true);
    expect(controller.health().workers).toHaveLength(0);
    expect(reconcile).not.toHaveBeenCalled();
  });

  it('stop aborts in-flight reconciles after the grace period and resolves when workers exit', async () => {
    vi.useFakeTimers({ now: 0 });
    const signals: AbortSignal[] = [];
    const reconcile: ReconcileFn = ({ key: _key }, signal) => {
      signals.push(signal);
      return new Promise((_res, rej) => {
        signal.addEventListener('abort', () => {
          rej(fail('read aborted', { dependency: 'vault' }));
        });
      });
    };
    const { controller, queue, lines } = setup(reconcile, { concurrency: 2, stopGraceMs: 5_000 });
    await controller.start();
    queue.add('ns/a', Priority.New);
    queue.add('ns/b', Priority.New);
    await vi.advanceTimersByTimeAsync(0);
    expect(controller.health().inFlight).toBe(2);
    let stopped = false;
    const stopping = controller.stop().then(() => (stopped = true));
    queue.add('ns/c', Priority.Push);
    await vi.advanceTimersByTimeAsync(4_999);
    expect(signals.map((s) => s.aborted)).toEqual([false, false]);
    expect(stopped).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    await stopping;
    expect(signals.map((s) => s.aborted)).toEqual([true, true]);
    expect(signals).toHaveLength(2); // ns/c was never picked up
    expect(controller.health()).toMatchObject({ running: false, inFlight: 0 });
    expect(queue.stats()).toMatchObject({ processing: 0, delayed: 0, backoff: 0 });
    expect(lines.some((l) => l.level === 'warn' || l.level === 'error')).toBe(false);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('stop does not abort a reconcile that finishes within the grace period', async () => {
    vi.useFakeTimers({ now: 0 });
    let signal: AbortSignal | undefined;
    const reconcile: ReconcileFn = async ({ key: _key }, s) => {
      signal = s;
      await new Promise((r) => setTimeout(r, 1_000));
      return {};
    };
    const { controller, queue } = setup(reconcile, { stopGraceMs: 5_000 });
    await controller.start();
    queue.add('ns/a', Priority.New);
    await vi.advanceTimersByTimeAsync(0);
    const stopping = controller.stop();
    await vi.advanceTimersByTimeAsync(1_000);
    await stopping;
    expect(signal?.aborted).toBe(false);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('reports a wedged worker once a reconcile outlives the threshold', async () => {
    vi.useFakeTimers({ now: 0 });
    const hang = deferred();
    const reconcile: ReconcileFn = async ({ key }) => {
      if (key === 'ns/slow') await hang.promise;
      return {};
    };
    const { controller, queue } = setup(reconcile, { concurrency: 2, stuckAfterMs: 60_000 });
    await controller.start();
    queue.add('ns/slow', Priority.New);
    queue.add('ns/fast', Priority.New);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(controller.health()).toMatchObject({ stuck: false, inFlight: 1, oldestInFlightMs: 60_000 });
    await vi.advanceTimersByTimeAsync(1);
    const h = controller.health();
    expect(h.stuck).toBe(true);
    expect(h.workers.find((w) => w.key === 'ns/slow')).toMatchObject({ busySince: 0, lastProgressAt: 0 });
    const idle = h.workers.find((w) => w.key === undefined);
    expect(idle?.busySince).toBeUndefined();
    hang.resolve();
    await vi.advanceTimersByTimeAsync(0);
    expect(controller.health()).toMatchObject({ stuck: false, inFlight: 0, oldestInFlightMs: undefined });
    const slowId = h.workers.find((w) => w.key === 'ns/slow')!.id;
    const after = controller.health().workers;
    expect(after.find((w) => w.id === slowId)).toMatchObject({ key: undefined, lastProgressAt: 60_001 });
    expect(after.find((w) => w.id !== slowId)).toMatchObject({ lastProgressAt: 0 });
    await controller.stop();
  });

  it('rejects a concurrency that is not a positive integer', () => {
    expect(() => setup(() => Promise.resolve({}), { concurrency: 0 })).toThrow(RangeError);
    expect(() => setup(() => Promise.resolve({}), { concurrency: 1.5 })).toThrow(RangeError);
  });
});

describe('Runner: Vault or the API server coming back', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  const unavailable = () => fail('Could not reach Vault at http://vault:8200 (ECONNREFUSED)', { dependency: 'vault' });

  /** A reconcile whose outcome per key the test switches; records when each key ran. */
  function switchable() {
    const runs = new Map<string, number[]>();
    const failing = new Map<string, () => Error>();
    const reconcile: ReconcileFn = ({ key }) => {
      runs.set(key, [...(runs.get(key) ?? []), Date.now()]);
      const fail = failing.get(key);
      return fail ? Promise.reject(fail()) : Promise.resolve({ requeueAfterMs: 600_000 });
    };
    return { runs, failing, reconcile };
  }

  it('retries every key waiting on VaultUnavailable as soon as one of them syncs, not after its backoff', async () => {
    vi.useFakeTimers({ now: 0 });
    const { runs, failing, reconcile } = switchable();
    for (const k of ['ns/a', 'ns/b', 'ns/c']) failing.set(k, unavailable);
    failing.set('ns/forbidden', () => fail('Vault denied read of secret/x'));
    const { controller, queue, lines } = setup(reconcile);
    await controller.start();
    for (const k of ['ns/a', 'ns/b', 'ns/c', 'ns/forbidden']) queue.add(k, Priority.New);
    // rand 1: delays 1, 2, 4, 8, 16, 32 s; failures at 0, 1, 3, 7, 15, 31, next at 63.
    await vi.advanceTimersByTimeAsync(40_000);
    expect(runs.get('ns/b')).toEqual([0, 1_000, 3_000, 7_000, 15_000, 31_000]);

    failing.delete('ns/a');
    failing.delete('ns/b');
    failing.delete('ns/c');
    queue.add('ns/a', Priority.Push); // e.g. a webhook push: it reaches Vault and succeeds
    await vi.advanceTimersByTimeAsync(0);
    expect(runs.get('ns/a')?.at(-1)).toBe(40_000);
    expect(runs.get('ns/b')?.at(-1)).toBe(40_000);
    expect(runs.get('ns/c')?.at(-1)).toBe(40_000);
    // A key failing for another reason keeps its backoff.
    expect(runs.get('ns/forbidden')?.at(-1)).toBe(31_000);
    expect(lines.find((l) => l.msg?.startsWith('dependency answers again'))?.obj).toMatchObject({
      dependency: 'vault',
      released: 2,
    });
    await vi.advanceTimersByTimeAsync(30_000);
    expect(runs.get('ns/forbidden')?.at(-1)).toBe(63_000);
    expect(runs.get('ns/b')).toHaveLength(7); // synced, no more retries
    await controller.stop();
  });

  it('retries keys that failed because the API server was down when one of them gets through', async () => {
    vi.useFakeTimers({ now: 0 });
    const { runs, failing, reconcile } = switchable();
    const apiDown = () => fail('update Secret ns/x failed (no response): fetch failed', { dependency: 'kubernetes' });
    for (const k of ['ns/a', 'ns/b']) failing.set(k, apiDown);
    failing.set('ns/conflict', () => fail('conflict (409)'));
    failing.set('ns/vault', unavailable);
    const { controller, queue, lines } = setup(reconcile);
    await controller.start();
    for (const k of ['ns/a', 'ns/b', 'ns/conflict', 'ns/vault']) queue.add(k, Priority.New);
    await vi.advanceTimersByTimeAsync(40_000); // all at 0, 1, 3, 7, 15, 31; next at 63
    failing.clear();
    queue.add('ns/a', Priority.New); // e.g. the SecretSync changed: its write gets through
    await vi.advanceTimersByTimeAsync(0);
    expect(runs.get('ns/b')?.at(-1)).toBe(40_000);
    // Not waiting on the API server: a conflict, and a key waiting on Vault, keep their backoff.
    expect(runs.get('ns/conflict')?.at(-1)).toBe(31_000);
    expect(runs.get('ns/vault')?.at(-1)).toBe(31_000);
    expect(lines.find((l) => l.msg?.startsWith('dependency answers again'))?.obj).toMatchObject({
      dependency: 'kubernetes',
      released: 1,
    });
    await controller.stop();
  });

  it('the cleanup of a deleted SecretSync is no sign that Vault is back', async () => {
    vi.useFakeTimers({ now: 0 });
    const runs = new Map<string, number[]>();
    let deleted = false;
    const reconcile: ReconcileFn = ({ key }) => {
      runs.set(key, [...(runs.get(key) ?? []), Date.now()]);
      // Both wait on Vault; then one SecretSync is deleted: its cleanup needs no Vault.
      if (key === 'ns/deleted' && deleted) return Promise.resolve({});
      return Promise.reject(unavailable());
    };
    const { controller, queue } = setup(reconcile);
    await controller.start();
    queue.add('ns/a', Priority.New);
    queue.add('ns/deleted', Priority.New);
    await vi.advanceTimersByTimeAsync(10_000); // both fail at 0, 1, 3, 7; next at 15
    deleted = true;
    queue.add('ns/deleted', Priority.New);
    await vi.advanceTimersByTimeAsync(0);
    expect(runs.get('ns/deleted')?.at(-1)).toBe(10_000);
    expect(runs.get('ns/a')?.at(-1)).toBe(7_000); // not released: Vault is still down
    await controller.stop();
  });

  it('a released key that fails again waits its backoff before another recovery can release it', async () => {
    vi.useFakeTimers({ now: 0 });
    const { runs, failing, reconcile } = switchable();
    failing.set('ns/a', unavailable);
    failing.set('ns/dead', unavailable); // its Vault stays down
    const { controller, queue } = setup(reconcile);
    await controller.start();
    queue.add('ns/a', Priority.New);
    queue.add('ns/dead', Priority.New);
    await vi.advanceTimersByTimeAsync(10_000); // failures at 0, 1, 3, 7; next at 15

    const recoverA = async () => {
      failing.set('ns/a', unavailable);
      queue.add('ns/a', Priority.Push);
      await vi.advanceTimersByTimeAsync(500);
      failing.delete('ns/a');
      queue.add('ns/a', Priority.Push);
      await vi.advanceTimersByTimeAsync(500);
    };
    failing.delete('ns/a');
    queue.add('ns/a', Priority.Push);
    await vi.advanceTimersByTimeAsync(0);
    // Released at 10 s, failed again: backoff 16 s, to 26 s; not released by a recovery at 12 s.
    await vi.advanceTimersByTimeAsync(2_000);
    await recoverA();
    expect(runs.get('ns/dead')).toEqual([0, 1_000, 3_000, 7_000, 10_000]);
    await vi.advanceTimersByTimeAsync(13_000); // to 26 s
    expect(runs.get('ns/dead')?.at(-1)).toBe(26_000);
    // Parked again after that failure: the next recovery (a fails at 27 s, syncs at 27.5 s) releases it.
    await vi.advanceTimersByTimeAsync(1_000);
    await recoverA();
    expect(runs.get('ns/dead')?.at(-1)).toBe(27_500);
    await controller.stop();
  });
});
