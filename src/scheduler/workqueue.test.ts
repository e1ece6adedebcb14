import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { systemClock, type SchedulerClock } from './clock.js';
import { Priority } from './priority.js';
import { WorkQueue } from './workqueue.js';

/** Takes every ready key (marking each done) without waiting. */
async function drain(q: WorkQueue): Promise<string[]> {
  const out: string[] = [];
  while (q.len() > 0) {
    const key = (await q.get())?.key;
    if (key === undefined) break;
    out.push(key);
    q.done(key);
  }
  return out;
}

/** systemClock (faked by vitest) that counts timers armed and pending. */
function countingClock(): { clock: SchedulerClock; armed: () => number; maxPending: () => number } {
  const inner = systemClock();
  const pending = new Set<unknown>();
  let armed = 0;
  let maxPending = 0;
  const clock: SchedulerClock = {
    now: () => inner.now(),
    setTimeout: (fn, ms) => {
      armed++;
      const handle = inner.setTimeout(() => {
        pending.delete(handle);
        fn();
      }, ms);
      pending.add(handle);
      maxPending = Math.max(maxPending, pending.size);
      return handle;
    },
    clearTimeout: (handle) => {
      pending.delete(handle);
      inner.clearTimeout(handle);
    },
  };
  return { clock, armed: () => armed, maxPending: () => maxPending };
}

describe('WorkQueue', () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: 1_000_000 });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  describe('deduplication and processing', () => {
    it('collapses duplicates of a queued key', async () => {
      const q = new WorkQueue();
      q.add('a', Priority.New);
      q.add('a', Priority.New);
      q.add('b', Priority.New);
      q.add('a', Priority.New);
      expect(q.len()).toBe(2);
      expect(await drain(q)).toEqual(['a', 'b']);
    });

    it('does not hand out a key being processed, and re-queues it exactly once at done', async () => {
      const q = new WorkQueue();
      q.add('a', Priority.New);
      expect((await q.get())?.key).toBe('a');
      q.add('a', Priority.New);
      q.add('a', Priority.New);
      q.add('a', Priority.Push);
      q.add('b', Priority.New);
      expect(q.len()).toBe(1);
      expect((await q.get())?.key).toBe('b');
      q.done('b');
      expect(q.len()).toBe(0);
      q.done('a');
      expect(q.len()).toBe(1);
      expect((await q.get())?.key).toBe('a');
      q.done('a');
      expect(q.len()).toBe(0);
      expect(q.stats()).toMatchObject({ processing: 0, dirty: 0 });
    });

    it('does not re-queue a key at done when nobody added it meanwhile', async () => {
      const q = new WorkQueue();
      q.add('a', Priority.New);
      await q.get();
      q.done('a');
      q.done('a');
      expect(q.len()).toBe(0);
    });

    it('re-queues a dirty key with the highest priority it was added with', async () => {
      const q = new WorkQueue();
      q.add('a', Priority.New);
      await q.get();
      q.add('a', Priority.Periodic);
      q.add('a', Priority.Push);
      q.add('b', Priority.New);
      q.done('a');
      expect(q.stats().depth).toEqual({ push: 1, new: 1, periodic: 0 });
      expect(await drain(q)).toEqual(['a', 'b']);
    });
  });

  describe('priorities', () => {
    it('hands out Push, then New, then Periodic, FIFO within each', async () => {
      const q = new WorkQueue();
      q.add('p1', Priority.Periodic);
      q.add('n1', Priority.New);
      q.add('p2', Priority.Periodic);
      q.add('u1', Priority.Push);
      q.add('n2', Priority.New);
      q.add('u2', Priority.Push);
      expect(q.stats().depth).toEqual({ push: 2, new: 2, periodic: 2 });
      expect(await drain(q)).toEqual(['u1', 'u2', 'n1', 'n2', 'p1', 'p2']);
    });

    it('raises the priority of a queued key but never lowers it', async () => {
      const q = new WorkQueue();
      q.add('a', Priority.Periodic);
      q.add('b', Priority.Periodic);
      q.add('c', Priority.Push);
      q.add('b', Priority.New);
      q.add('c', Priority.Periodic);
      expect(q.len()).toBe(3);
      expect(q.stats().depth).toEqual({ push: 1, new: 1, periodic: 1 });
      expect(await drain(q)).toEqual(['c', 'b', 'a']);
    });
  });

  describe('get and shutdown', () => {
    it('makes a getter wait until a key is added', async () => {
      const q = new WorkQueue();
      let got: string | undefined = 'pending';
      const p = q.get().then((r) => (got = r?.key));
      await Promise.resolve();
      expect(got).toBe('pending');
      q.add('a', Priority.New);
      await p;
      expect(got).toBe('a');
      expect(q.stats().processing).toBe(1);
    });

    it('gives each waiting getter a different key', async () => {
      const q = new WorkQueue();
      const gets = [q.get(), q.get(), q.get()];
      q.add('a', Priority.Periodic);
      q.add('b', Priority.Push);
      q.add('a', Priority.Push);
      q.add('c', Priority.New);
      expect((await Promise.all(gets)).map((r) => r?.key)).toEqual(['a', 'b', 'c']);
    });

    it('wakes every waiting getter on shutDown with undefined, and then ignores adds', async () => {
      const q = new WorkQueue();
      const gets = [q.get(), q.get()];
      q.shutDown();
      expect(await Promise.all(gets)).toEqual([undefined, undefined]);
      q.add('a', Priority.Push);
      q.addAfter('b', 10, Priority.Push);
      expect(q.addRateLimited('c')).toBeUndefined();
      expect(q.len()).toBe(0);
      expect(await q.get()).toBeUndefined();
      expect(q.isShuttingDown()).toBe(true);
      expect(vi.getTimerCount()).toBe(0);
    });

    it('drops ready and delayed keys at shutDown so get returns undefined at once', async () => {
      const q = new WorkQueue();
      q.add('a', Priority.New);
      q.addAfter('b', 1_000, Priority.New);
      q.shutDown();
      expect(await q.get()).toBeUndefined();
      expect(q.stats()).toEqual({
        depth: { push: 0, new: 0, periodic: 0 },
        lanes: 0,
        processing: 0,
        dirty: 0,
        delayed: 0,
        backoff: 0,
      });
    });

    it('resolves undefined when the signal aborts, and that getter takes no key afterwards', async () => {
      const q = new WorkQueue();
      const ac = new AbortController();
      const aborted = q.get(ac.signal);
      ac.abort();
      expect(await aborted).toBeUndefined();
      q.add('a', Priority.New);
      expect(q.len()).toBe(1);
      expect((await q.get())?.key).toBe('a');
      expect(await q.get(AbortSignal.abort())).toBeUndefined();
    });

    it('reports how long each key waited ready, with its priority', async () => {
      const seen: [string, number, Priority][] = [];
      const q = new WorkQueue({ onDequeue: (k, ms, p) => seen.push([k, ms, p]) });
      q.add('a', Priority.Periodic);
      vi.advanceTimersByTime(250);
      q.add('b', Priority.New);
      q.add('a', Priority.Push);
      vi.advanceTimersByTime(50);
      await drain(q);
      expect(seen).toEqual([
        ['a', 300, Priority.Push],
        ['b', 50, Priority.New],
      ]);
    });
  });

  describe('delayed adds', () => {
    it('makes a key ready exactly when its delay has passed', () => {
      const q = new WorkQueue();
      q.addAfter('a', 1_000, Priority.Periodic);
      expect(q.stats().delayed).toBe(1);
      vi.advanceTimersByTime(999);
      expect(q.len()).toBe(0);
      vi.advanceTimersByTime(1);
      expect(q.len()).toBe(1);
      expect(q.stats()).toMatchObject({ delayed: 0, depth: { periodic: 1 } });
    });

    it('wakes a waiting getter when a delayed key comes due', async () => {
      const q = new WorkQueue();
      const got = q.get();
      q.addAfter('a', 500, Priority.New);
      await vi.advanceTimersByTimeAsync(500);
      expect((await got)?.key).toBe('a');
    });

    it('uses one timer for 1,000 delayed keys and releases them in due order', async () => {
      const { clock, armed, maxPending } = countingClock();
      const q = new WorkQueue({ clock });
      const delays = Array.from({ length: 1_000 }, (_, i) => ((i * 7_919) % 1_000) + 1); // a permutation of 1..1000
      delays.forEach((d, i) => {
        q.addAfter(`k${i}`, d * 10, Priority.Periodic);
      });
      expect(maxPending()).toBe(1);
      expect(vi.getTimerCount()).toBe(1);
      await vi.advanceTimersByTimeAsync(10_000);
      expect(q.len()).toBe(1_000);
      expect(maxPending()).toBe(1);
      expect(vi.getTimerCount()).toBe(0);
      // Re-arming happens only when a key comes due earlier than the armed time.
      expect(armed()).toBeLessThan(1_000 + 50);
      const order = await drain(q);
      const byDelay = delays.map((d, i) => [d, `k${i}`] as const).sort((a, b) => a[0] - b[0]);
      expect(order).toEqual(byDelay.map(([, k]) => k));
    });

    it('arms the timer once when keys are added in due order', () => {
      const { clock, armed } = countingClock();
      const q = new WorkQueue({ clock });
      for (let i = 1; i <= 1_000; i++) q.addAfter(`k${i}`, i, Priority.Periodic);
      expect(armed()).toBe(1);
    });

    it('keeps the earliest due time when a key is added with a delay twice', () => {
      const q = new WorkQueue();
      q.addAfter('a', 5_000, Priority.Periodic);
      q.addAfter('a', 1_000, Priority.Periodic);
      q.addAfter('b', 1_000, Priority.Periodic);
      q.addAfter('b', 5_000, Priority.Periodic);
      expect(q.stats().delayed).toBe(2);
      vi.advanceTimersByTime(1_000);
      expect(q.len()).toBe(2);
      expect(q.stats().delayed).toBe(0);
    });

    it('lets an immediate add supersede a pending delayed add', async () => {
      const q = new WorkQueue();
      q.addAfter('a', 1_000, Priority.Periodic);
      q.add('a', Priority.Push);
      expect(q.stats().delayed).toBe(0);
      expect(vi.getTimerCount()).toBe(0);
      expect(await drain(q)).toEqual(['a']);
      vi.advanceTimersByTime(2_000);
      expect(q.len()).toBe(0);
    });

    it('treats a non-positive delay as an immediate add', () => {
      const q = new WorkQueue();
      q.addAfter('a', 0, Priority.New);
      q.addAfter('b', -5, Priority.New);
      expect(q.len()).toBe(2);
      expect(vi.getTimerCount()).toBe(0);
    });

    it('marks a key dirty when its delay ends while it is being processed', async () => {
      const q = new WorkQueue();
      q.add('a', Priority.New);
      await q.get();
      q.addAfter('a', 100, Priority.Periodic);
      vi.advanceTimersByTime(100);
      expect(q.len()).toBe(0);
      q.done('a');
      expect(q.len()).toBe(1);
    });
  });

  describe('rate-limited adds', () => {
    it('delays each retry by the growing backoff until forget resets it', async () => {
      const q = new WorkQueue({ backoff: { baseMs: 1_000, factor: 2, maxMs: 4_000, rand: () => 1 } });
      const readyAfter: number[] = [];
      for (let i = 0; i < 4; i++) {
        expect(q.addRateLimited('a')).toBe([1_000, 2_000, 4_000, 4_000][i]);
        const start = Date.now();
        while (q.len() === 0) vi.advanceTimersByTime(100);
        readyAfter.push(Date.now() - start);
        await drain(q);
      }
      expect(readyAfter).toEqual([1_000, 2_000, 4_000, 4_000]);
      expect(q.retries('a')).toBe(4);
      q.forget('a');
      expect(q.retries('a')).toBe(0);
      expect(q.addRateLimited('a')).toBe(1_000);
    });

    it('queues retries as Periodic unless told otherwise', () => {
      const q = new WorkQueue({ backoff: { baseMs: 10, rand: () => 0 } });
      q.addRateLimited('a');
      q.addRateLimited('b', Priority.New);
      vi.advanceTimersByTime(10);
      expect(q.stats().depth).toEqual({ push: 0, new: 1, periodic: 1 });
    });

    it('keeps nothing for a key after forget and done, except pending work', async () => {
      const q = new WorkQueue({ backoff: { baseMs: 10, rand: () => 0 } });
      for (let i = 0; i < 100; i++) {
        q.add(`k${i}`, Priority.New);
        q.addRateLimited(`k${i}`);
      }
      expect(q.stats()).toMatchObject({ delayed: 100, backoff: 100 });
      for (let i = 0; i < 100; i++) {
        const key = (await q.get())?.key;
        q.add(key!, Priority.Periodic);
        q.forget(key!);
        q.done(key!);
      }
      // The adds during processing are pending work: each key is ready once more.
      expect(q.stats()).toEqual({
        depth: { push: 0, new: 0, periodic: 100 },
        lanes: 1,
        processing: 0,
        dirty: 0,
        delayed: 0,
        backoff: 0,
      });
      await drain(q);
      expect(q.stats()).toEqual({
        depth: { push: 0, new: 0, periodic: 0 },
        lanes: 0,
        processing: 0,
        dirty: 0,
        delayed: 0,
        backoff: 0,
      });
      expect(vi.getTimerCount()).toBe(0);
    });
  });

  describe('fresh requests', () => {
    it('hands out a pushed key as fresh once, and a later add of it as not fresh', async () => {
      const q = new WorkQueue();
      q.add('a', Priority.Push, { fresh: true });
      q.add('a', Priority.Periodic);
      expect(q.pendingFresh('a')).toBe(true);
      expect(await q.get()).toEqual({ key: 'a', priority: Priority.Push, fresh: true });
      expect(q.pendingFresh('a')).toBe(false);
      q.done('a');
      q.add('a', Priority.Periodic);
      expect(await q.get()).toEqual({ key: 'a', priority: Priority.Periodic, fresh: false });
    });

    it('keeps a push that arrives while the key is processed for the next run', async () => {
      const q = new WorkQueue();
      q.add('a', Priority.New);
      expect((await q.get())?.fresh).toBe(false);
      q.add('a', Priority.Push, { fresh: true });
      q.done('a');
      expect(await q.get()).toEqual({ key: 'a', priority: Priority.Push, fresh: true });
    });

    it('carries the latest push time of a key, so its read covers every push it answers', async () => {
      const q = new WorkQueue();
      q.add('a', Priority.Push, { fresh: true, freshSince: 200 });
      q.add('a', Priority.Push, { fresh: true, freshSince: 100 }); // an older push, delivered late
      q.add('a', Priority.Push, { fresh: true }); // a push without a time keeps the known one
      expect(await q.get()).toEqual({ key: 'a', priority: Priority.Push, fresh: true, freshSince: 200 });
      q.add('a', Priority.Push, { fresh: true, freshSince: 300 }); // arrives while it is processed
      q.done('a');
      expect(await q.get()).toEqual({ key: 'a', priority: Priority.Push, fresh: true, freshSince: 300 });
      q.done('a');
      q.add('a', Priority.Periodic);
      expect(await q.get()).toEqual({ key: 'a', priority: Priority.Periodic, fresh: false });
    });

    it('keeps a retried fresh request fresh through its backoff', async () => {
      const q = new WorkQueue();
      q.add('a', Priority.Push, { fresh: true });
      const first = await q.get();
      q.addRateLimited('a', Priority.Periodic, { fresh: first?.fresh ?? false });
      q.done('a');
      await vi.advanceTimersByTimeAsync(60_000);
      expect(await q.get()).toMatchObject({ key: 'a', fresh: true });
    });
  });

  describe('whenDrained', () => {
    /** Whether the promise has settled after the microtasks queued so far. */
    async function settled(p: Promise<void>): Promise<boolean> {
      let done = false;
      void p.then(() => (done = true));
      await vi.advanceTimersByTimeAsync(0);
      return done;
    }

    it('resolves at once when nothing of the priority is ready or processing', async () => {
      const q = new WorkQueue();
      q.add('p', Priority.Periodic);
      expect(await settled(q.whenDrained(Priority.Push, 60_000))).toBe(true);
    });

    it('waits for the ready, processing and re-added keys of the priority, not for others', async () => {
      const q = new WorkQueue();
      q.add('a', Priority.Push);
      q.add('b', Priority.Push);
      q.add('p', Priority.Periodic);
      const drained = q.whenDrained(Priority.Push, 60_000);
      const a = await q.get();
      expect(await settled(drained)).toBe(false); // b is still ready
      const b = await q.get();
      q.add('b', Priority.Push); // pushed again while processing: it runs once more
      q.done(a!.key);
      expect(await settled(drained)).toBe(false); // b is processing
      q.done(b!.key);
      expect(await settled(drained)).toBe(false); // b is ready again
      const again = await q.get();
      expect(again?.key).toBe('b');
      q.done('b');
      expect(await settled(drained)).toBe(true); // p (periodic) is still ready: not this priority's
      expect(q.len()).toBe(1);
    });

    it('counts a key by the priority it was handed out at: one raised to push later is push work', async () => {
      const q = new WorkQueue();
      q.add('a', Priority.Periodic);
      await q.get(); // a runs as periodic work
      expect(await settled(q.whenDrained(Priority.Push, 60_000))).toBe(true);
      q.add('a', Priority.Push); // pushed while it runs: queued again at push when done
      const drained = q.whenDrained(Priority.Push, 60_000);
      q.done('a');
      expect(await settled(drained)).toBe(false);
      await q.get();
      q.done('a');
      expect(await settled(drained)).toBe(true);
    });

    it('gives up after the bound, so a stream of pushes cannot hold the waiter for ever', async () => {
      const q = new WorkQueue();
      q.add('a', Priority.Push);
      await q.get(); // never done
      const drained = q.whenDrained(Priority.Push, 5_000);
      await vi.advanceTimersByTimeAsync(4_999);
      expect(await settled(drained)).toBe(false);
      await vi.advanceTimersByTimeAsync(1);
      expect(await settled(drained)).toBe(true);
    });

    it('resolves every waiter at shutdown and arms no timer once drained', async () => {
      const counting = countingClock();
      const q = new WorkQueue({ clock: counting.clock });
      q.add('a', Priority.Push);
      await q.get();
      const waits = [q.whenDrained(Priority.Push, 60_000), q.whenDrained(Priority.Push, 60_000)];
      q.shutDown();
      expect(await Promise.all(waits.map(settled))).toEqual([true, true]);
      expect(await settled(q.whenDrained(Priority.Push, 60_000))).toBe(true);
      expect(counting.maxPending()).toBe(2);
      await vi.advanceTimersByTimeAsync(0);
      const armed = counting.armed();
      await q.whenDrained(Priority.Push, 60_000); // after shutdown: no timer
      expect(counting.armed()).toBe(armed);
    });
  });

  describe('fair lanes', () => {
    const laneOf = (key: string) => key.slice(0, key.indexOf('/'));

    it('takes the lanes in turn within a priority, so one lane of many keys does not starve another', async () => {
      const q = new WorkQueue({ laneOf });
      for (let i = 1; i <= 4; i++) q.add(`a/${i}`, Priority.Periodic);
      q.add('b/1', Priority.Periodic);
      q.add('c/1', Priority.Periodic);
      expect(await drain(q)).toEqual(['a/1', 'b/1', 'c/1', 'a/2', 'a/3', 'a/4']);
    });

    it('still serves higher priorities first, whatever the lane', async () => {
      const q = new WorkQueue({ laneOf });
      q.add('a/1', Priority.Periodic);
      q.add('a/2', Priority.New);
      q.add('b/1', Priority.Push);
      expect(await drain(q)).toEqual(['b/1', 'a/2', 'a/1']);
    });

    it('keeps a lane at its in-flight bound waiting even with idle workers, and serves other lanes', async () => {
      const q = new WorkQueue({ laneOf, maxInFlightPerLane: 2 });
      for (let i = 1; i <= 5; i++) q.add(`hostile/${i}`, Priority.Periodic);
      expect((await q.get())?.key).toBe('hostile/1');
      expect((await q.get())?.key).toBe('hostile/2');
      let third: string | undefined = 'pending';
      const waiting = q.get().then((r) => (third = r?.key));
      await Promise.resolve();
      expect(third).toBe('pending'); // hostile/3 is ready, but its lane holds two workers
      q.add('victim/1', Priority.Periodic);
      await waiting;
      expect(third).toBe('victim/1');
      const fourth = q.get();
      q.done('hostile/1');
      expect((await fourth)?.key).toBe('hostile/3');
      expect(q.stats()).toMatchObject({ processing: 3, lanes: 2, depth: { periodic: 2 } });
    });

    it('forgets a lane once it has nothing ready or in flight', async () => {
      const q = new WorkQueue({ laneOf });
      q.add('a/1', Priority.New);
      expect(q.stats().lanes).toBe(1);
      expect(await drain(q)).toEqual(['a/1']);
      expect(q.stats().lanes).toBe(0);
    });
  });
});
