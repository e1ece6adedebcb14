import { ExponentialBackoff, type BackoffOptions } from './backoff.js';
import { systemClock, type SchedulerClock } from './clock.js';
import { DelayQueue } from './delay-queue.js';
import { higherPriority, PRIORITIES, Priority, priorityRank } from './priority.js';

export interface WorkQueueOptions<K> {
  clock?: SchedulerClock;
  backoff?: BackoffOptions;
  /** Called as a key is handed out, with how long it waited ready. Must not throw. */
  onDequeue?: (key: K, waitedMs: number, priority: Priority) => void;
  /**
   * The lane (tenant) of a key, e.g. its namespace. Within one priority the queue takes lanes in
   * turn (round-robin), so one lane's many keys cannot starve another's few. Default: one lane.
   */
  laneOf?: (key: K) => string;
  /**
   * At most this many keys of one lane are processed at once (0 or absent: no bound), so a lane
   * whose keys hang (a slow or black-hole Vault) cannot hold every worker. A lane at its bound
   * waits even if workers are idle: the bound is a reservation for the other lanes.
   */
  maxInFlightPerLane?: number;
}

/**
 * What a worker is handed: the key, the priority it was queued at, and whether it must bypass shared
 * caches (a push asked for a fresh read). The request carries this, so no side map has to remember
 * why a key was queued.
 */
export interface Request<K = string> {
  key: K;
  priority: Priority;
  fresh: boolean;
  /** With `fresh`: the latest `freshSince` given for the key (when the push came, in the pusher's
   *  clock); a result read since then is fresh enough for it. Absent: fresh as of the hand-out. */
  freshSince?: number;
}

export interface AddOptions {
  /** The next hand-out of the key is a fresh request. The mark stays until then, whatever else is queued. */
  fresh?: boolean;
  /** With `fresh`: when the push came, as an opaque number of the caller's clock (the queue only keeps
   *  the latest). Every request of one push carries the same value, so they can share one read. */
  freshSince?: number;
}

export interface QueueStats {
  /** Ready keys by priority (not processing, not delayed). */
  depth: Record<Priority, number>;
  /** Lanes with ready or processing keys. */
  lanes: number;
  processing: number;
  /** Keys added while processing, to be queued again at `done`. */
  dirty: number;
  delayed: number;
  /** Keys with a recorded failure count. */
  backoff: number;
}

/** One tenant's keys: ready per priority in FIFO order (Map insertion order) → when they became ready. */
interface Lane<K> {
  ready: Record<Priority, Map<K, number>>;
  inFlight: number;
}

const newLane = <K>(): Lane<K> => ({
  ready: { [Priority.Push]: new Map(), [Priority.New]: new Map(), [Priority.Periodic]: new Map() },
  inFlight: 0,
});

interface Dirty {
  priority: Priority;
  since: number;
}

interface Waiter<K> {
  deliver(request: Request<K> | undefined): void;
}

/**
 * A work queue of keys in the manner of client-go's rate-limiting, delaying workqueue,
 * with priorities and fair lanes (in the manner of API Priority and Fairness): higher priorities
 * first; within a priority, the lanes that have ready keys take turns; within a lane, FIFO.
 *
 * Invariants:
 * - a key is at most once in the ready queue (adding it again only raises its priority);
 * - a key handed out by `get` is not handed out again before `done(key)`; if it was added
 *   meanwhile it is queued again, once, at `done`;
 * - an immediate `add` cancels a pending delayed add of the key (the key is looked at now,
 *   which is earlier); a delayed add keeps the earliest due time (see DelayQueue.add).
 *
 * After `shutDown`, adds are ignored, pending work is dropped and `get` returns undefined
 * at once: the controller is level-triggered, so whatever was queued is found again by the
 * next instance's initial list.
 */
export class WorkQueue<K = string> {
  readonly #clock: SchedulerClock;
  readonly #backoff: ExponentialBackoff<K>;
  readonly #onDequeue: ((key: K, waitedMs: number, priority: Priority) => void) | undefined;
  readonly #delayed: DelayQueue<K>;
  readonly #laneOf: (key: K) => string;
  readonly #maxInFlightPerLane: number;
  readonly #lanes = new Map<string, Lane<K>>();
  /** Per priority, the lanes with ready keys at it, in turn order (the next to serve first). */
  readonly #turns: Record<Priority, Set<string>> = {
    [Priority.Push]: new Set(),
    [Priority.New]: new Set(),
    [Priority.Periodic]: new Set(),
  };
  /** Keys handed out and not done yet, with the priority they were handed out at. */
  readonly #processing = new Map<K, Priority>();
  readonly #dirty = new Map<K, Dirty>();
  readonly #waiters = new Set<Waiter<K>>();
  /** Keys whose next hand-out is fresh, with the latest push time given (undefined: none given).
   *  Cleared when handed out, not when done: a push that comes while the key is being processed
   *  must be served by another, fresh run. */
  readonly #fresh = new Map<K, number | undefined>();
  /** whenDrained callers, per priority: woken when nothing of it is left, or by their own timer. */
  readonly #drainWaiters: Record<Priority, Set<() => void>> = {
    [Priority.Push]: new Set(),
    [Priority.New]: new Set(),
    [Priority.Periodic]: new Set(),
  };
  #shuttingDown = false;

  constructor(options: WorkQueueOptions<K> = {}) {
    this.#clock = options.clock ?? systemClock();
    this.#backoff = new ExponentialBackoff<K>(options.backoff);
    this.#onDequeue = options.onDequeue;
    this.#laneOf = options.laneOf ?? (() => '');
    const bound = options.maxInFlightPerLane ?? 0;
    this.#maxInFlightPerLane = bound > 0 ? bound : Infinity;
    this.#delayed = new DelayQueue<K>(this.#clock, (key, priority) => {
      this.#enqueue(key, priority, this.#clock.now());
    });
  }

  /** Queues `key` now, or raises its priority if it is already queued. */
  add(key: K, priority: Priority, options: AddOptions = {}): void {
    if (this.#shuttingDown) return;
    this.#markFresh(key, options);
    this.#delayed.cancel(key);
    this.#enqueue(key, priority, this.#clock.now());
  }

  /** Queues `key` after `delayMs` through the single delay timer; `delayMs <= 0` is `add`. */
  addAfter(key: K, delayMs: number, priority: Priority, options: AddOptions = {}): void {
    if (this.#shuttingDown) return;
    if (!(delayMs > 0)) {
      this.add(key, priority, options);
      return;
    }
    this.#markFresh(key, options);
    this.#delayed.add(key, this.#clock.now() + delayMs, priority);
  }

  /**
   * Queues `key` after its next backoff delay (one more failure recorded). Retries default
   * to Periodic so a burst of failing keys cannot starve pushes and new specs.
   * Returns the delay chosen, or undefined after shutdown.
   */
  addRateLimited(key: K, priority: Priority = Priority.Periodic, options: AddOptions = {}): number | undefined {
    if (this.#shuttingDown) return undefined;
    const delayMs = this.#backoff.next(key);
    this.addAfter(key, delayMs, priority, options);
    return delayMs;
  }

  #markFresh(key: K, options: AddOptions): void {
    if (options.fresh !== true) return;
    const had = this.#fresh.get(key);
    const since = options.freshSince;
    // The latest push decides: a read older than it may miss what that push announced.
    this.#fresh.set(key, since === undefined ? had : had === undefined ? since : Math.max(had, since));
  }

  /** Clears the key's failure count (call on success). A pending delayed add is kept. */
  forget(key: K): void {
    this.#backoff.forget(key);
  }

  /** Whether `key` waits for a fresh hand-out (pushed, and its run has not started yet). */
  pendingFresh(key: K): boolean {
    return this.#fresh.has(key);
  }

  /** Consecutive failures recorded by addRateLimited since the last forget. */
  retries(key: K): number {
    return this.#backoff.retries(key);
  }

  /**
   * The next request, by priority then FIFO; waits while the queue is empty. Resolves undefined
   * after shutDown or when `signal` aborts. The caller must call `done(request.key)` afterwards.
   */
  get(signal?: AbortSignal): Promise<Request<K> | undefined> {
    if (this.#shuttingDown || signal?.aborted === true) return Promise.resolve(undefined);
    const request = this.#take();
    if (request !== undefined) return Promise.resolve(request);
    return new Promise((resolve) => {
      const onAbort = (): void => {
        this.#waiters.delete(waiter);
        resolve(undefined);
      };
      const waiter: Waiter<K> = {
        deliver: (k) => {
          signal?.removeEventListener('abort', onAbort);
          resolve(k);
        },
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#waiters.add(waiter);
    });
  }

  /**
   * Resolves once no key is ready at `priority`, handed out at it, or waiting to be queued again at
   * it (added while processing), or after `maxWaitMs`, whichever comes first; at once when nothing
   * of it is left, and at shutdown. For work that should go after a priority's work without being
   * starved by it: a push's status writes wait for its Secret writes, but never longer than the bound.
   */
  whenDrained(priority: Priority, maxWaitMs: number): Promise<void> {
    if (this.#shuttingDown || !this.#hasWork(priority)) return Promise.resolve();
    return new Promise((resolve) => {
      const waiters = this.#drainWaiters[priority];
      const wake = (): void => {
        waiters.delete(wake);
        this.#clock.clearTimeout(timer);
        resolve();
      };
      const timer = this.#clock.setTimeout(wake, Math.max(0, maxWaitMs));
      waiters.add(wake);
    });
  }

  /** Keys at `priority`: ready, handed out at it, or dirty at it. */
  #hasWork(priority: Priority): boolean {
    for (const name of this.#turns[priority]) if ((this.#lanes.get(name)?.ready[priority].size ?? 0) > 0) return true;
    for (const p of this.#processing.values()) if (p === priority) return true;
    for (const d of this.#dirty.values()) if (d.priority === priority) return true;
    return false;
  }

  #wakeDrained(): void {
    for (const p of PRIORITIES) {
      const waiters = this.#drainWaiters[p];
      if (waiters.size === 0 || this.#hasWork(p)) continue;
      for (const wake of [...waiters]) wake();
    }
  }

  /** Ends the processing of `key`; queues it again if it was added meanwhile. */
  done(key: K): void {
    const handedOutAt = this.#processing.get(key);
    if (handedOutAt === undefined) return;
    this.#processing.delete(key);
    const name = this.#laneOf(key);
    const lane = this.#lanes.get(name);
    if (lane !== undefined) lane.inFlight--;
    const dirty = this.#dirty.get(key);
    this.#dirty.delete(key);
    if (this.#shuttingDown) return;
    if (dirty !== undefined) this.#makeReady(key, dirty.priority, dirty.since);
    else this.#dropIfIdle(name);
    // A lane at its in-flight bound may take a worker again.
    this.#dispatch();
    if (this.#drainWaiters[handedOutAt].size > 0) this.#wakeDrained();
  }

  /** Stops the queue: drops ready, delayed and backoff state and wakes every waiting `get`. */
  shutDown(): void {
    if (this.#shuttingDown) return;
    this.#shuttingDown = true;
    this.#delayed.clear();
    this.#lanes.clear();
    for (const p of PRIORITIES) this.#turns[p].clear();
    this.#dirty.clear();
    this.#fresh.clear();
    this.#backoff.clear();
    const waiters = [...this.#waiters];
    this.#waiters.clear();
    for (const w of waiters) w.deliver(undefined);
    for (const p of PRIORITIES) for (const wake of [...this.#drainWaiters[p]]) wake();
  }

  isShuttingDown(): boolean {
    return this.#shuttingDown;
  }

  /** Ready keys, all priorities. */
  len(): number {
    const d = this.#depth();
    return d[Priority.Push] + d[Priority.New] + d[Priority.Periodic];
  }

  stats(): QueueStats {
    return {
      depth: this.#depth(),
      lanes: this.#lanes.size,
      processing: this.#processing.size,
      dirty: this.#dirty.size,
      delayed: this.#delayed.size,
      backoff: this.#backoff.size,
    };
  }

  #depth(): Record<Priority, number> {
    const depth = { [Priority.Push]: 0, [Priority.New]: 0, [Priority.Periodic]: 0 };
    for (const lane of this.#lanes.values()) for (const p of PRIORITIES) depth[p] += lane.ready[p].size;
    return depth;
  }

  #enqueue(key: K, priority: Priority, since: number): void {
    if (this.#processing.has(key)) {
      const dirty = this.#dirty.get(key);
      this.#dirty.set(
        key,
        dirty === undefined
          ? { priority, since }
          : { priority: higherPriority(dirty.priority, priority), since: dirty.since },
      );
      return;
    }
    const lane = this.#lanes.get(this.#laneOf(key));
    const queuedAt = lane === undefined ? undefined : PRIORITIES.find((p) => lane.ready[p].has(key));
    if (queuedAt === undefined) {
      this.#makeReady(key, priority, since);
      this.#dispatch();
      return;
    }
    if (lane !== undefined && priorityRank(priority) < priorityRank(queuedAt)) {
      // Moves to the tail of the higher priority; keeps its original ready time for metrics.
      const readySince = lane.ready[queuedAt].get(key) ?? since;
      lane.ready[queuedAt].delete(key);
      if (lane.ready[queuedAt].size === 0) this.#turns[queuedAt].delete(this.#laneOf(key));
      this.#makeReady(key, priority, readySince);
    }
  }

  #makeReady(key: K, priority: Priority, since: number): void {
    const name = this.#laneOf(key);
    let lane = this.#lanes.get(name);
    if (lane === undefined) this.#lanes.set(name, (lane = newLane()));
    lane.ready[priority].set(key, since);
    this.#turns[priority].add(name); // a lane that had no ready key at this priority joins at the end
  }

  #dropIfIdle(name: string): void {
    const lane = this.#lanes.get(name);
    if (lane === undefined || lane.inFlight > 0) return;
    if (PRIORITIES.some((p) => lane.ready[p].size > 0)) return;
    this.#lanes.delete(name);
  }

  /** Removes the next ready key and marks it processing: by priority, then the lanes in turn. */
  #take(): Request<K> | undefined {
    for (const priority of PRIORITIES) {
      const turns = this.#turns[priority];
      for (const name of turns) {
        const lane = this.#lanes.get(name);
        if (lane === undefined) {
          turns.delete(name);
          continue;
        }
        if (lane.inFlight >= this.#maxInFlightPerLane) continue;
        const first = lane.ready[priority].entries().next();
        if (first.done === true) {
          turns.delete(name);
          continue;
        }
        const [key, since] = first.value;
        lane.ready[priority].delete(key);
        lane.inFlight++;
        // Served: to the end of the turn order, or out of it when it has nothing more here.
        turns.delete(name);
        if (lane.ready[priority].size > 0) turns.add(name);
        this.#processing.set(key, priority);
        this.#onDequeue?.(key, this.#clock.now() - since, priority);
        const fresh = this.#fresh.has(key);
        const freshSince = this.#fresh.get(key);
        this.#fresh.delete(key);
        return { key, priority, fresh, ...(freshSince === undefined ? {} : { freshSince }) };
      }
    }
    return undefined;
  }

  /** Hands ready keys to waiting getters. */
  #dispatch(): void {
    for (const waiter of this.#waiters) {
      const request = this.#take();
      if (request === undefined) return;
      this.#waiters.delete(waiter);
      waiter.deliver(request);
    }
  }
}
