import type { Key, Logger } from '../core/types.js';
import { systemClock, type SchedulerClock } from './clock.js';
import { OutageWaits } from './outage.js';
import { Priority } from './priority.js';
import type { Request, WorkQueue } from './workqueue.js';

export interface ReconcileResult {
  /** Look at the key again after exactly this long (the refresh-timing policy already spread it). */
  requeueAfterMs?: number;
  /** The reconcile went through its dependencies and they answered, though it asks for no requeue
   *  (a key that is only looked at again on an event): keys parked on an outage are released. */
  reachedDependencies?: boolean;
}

/**
 * The reconcile contract (STYLE.md §1): makes one key's state right; safe to repeat.
 * Throws to be retried with backoff, or an error that `classify` calls terminal to stop retrying
 * until the key is added again. Must give up promptly once `signal` aborts.
 */
export type ReconcileFn = (request: Request, signal: AbortSignal) => Promise<ReconcileResult>;

/** What the runner needs to know about an error; the scheduler knows no error types of its own. */
export interface ErrorClass {
  /** Not retried until the key is added again. */
  terminal: boolean;
  /** What is down for everyone if this is an outage (e.g. Vault); undefined otherwise. */
  dependency?: string;
  /** Safe to log: never secret data. */
  summary: string;
  /** An error the domain expects (logged at warn), or a bug (logged at error). */
  expected: boolean;
}

export interface RunnerDeps {
  queue: WorkQueue;
  reconcile: ReconcileFn;
  classify: (err: unknown) => ErrorClass;
  /** Resolves when the informer caches hold a full list; workers start only after it. */
  waitForCacheSync: (signal: AbortSignal) => Promise<void>;
  /** Number of workers (config.concurrency). */
  concurrency: number;
  log: Logger;
  clock?: SchedulerClock;
  /** How long `stop()` lets in-flight reconciles finish before aborting their signal. Default 10 s. */
  stopGraceMs?: number;
  /** A reconcile running longer than this makes `health().stuck` true. Default 5 min. */
  stuckAfterMs?: number;
}

export interface WorkerHealth {
  id: number;
  /** The key being reconciled, if any. */
  key: Key | undefined;
  /** When the current reconcile started (clock ms), if busy. */
  busySince: number | undefined;
  /** When this worker last started or finished a reconcile (clock ms). */
  lastProgressAt: number;
}

export interface RunnerHealth {
  /** Workers are running (cache synced, not stopped). */
  running: boolean;
  /** Some reconcile has run longer than `stuckAfterMs`: a wedged worker. */
  stuck: boolean;
  stuckAfterMs: number;
  inFlight: number;
  /** Age of the oldest in-flight reconcile, ms. */
  oldestInFlightMs: number | undefined;
  workers: WorkerHealth[];
}

const DEFAULT_STOP_GRACE_MS = 10_000;
const DEFAULT_STUCK_AFTER_MS = 300_000;

/**
 * Runs N workers over the queue: get → reconcile → done. All requeue decisions live here:
 * success forgets the key's backoff and schedules the requeue the reconcile asked for;
 * a terminal error forgets the key; anything else is retried with backoff, fresh if it was fresh.
 */
export class Runner {
  readonly #deps: RunnerDeps;
  readonly #clock: SchedulerClock;
  readonly #log: Logger;
  readonly #stuckAfterMs: number;
  readonly #syncAbort = new AbortController();
  /** Given to every reconcile; aborted once the stop grace period has passed. */
  readonly #reconcileAbort = new AbortController();
  readonly #workers: WorkerHealth[] = [];
  /** Keys failing because Vault or the API server is down: retried at once when it is back. */
  readonly #outages = new OutageWaits();
  readonly #exits: Promise<void>[] = [];
  #started = false;
  #running = false;
  #stopping: Promise<void> | undefined;

  constructor(deps: RunnerDeps) {
    if (!Number.isInteger(deps.concurrency) || deps.concurrency < 1) {
      throw new RangeError(`concurrency must be a positive integer, got ${deps.concurrency}`);
    }
    this.#deps = deps;
    this.#clock = deps.clock ?? systemClock();
    this.#log = deps.log;
    this.#stuckAfterMs = deps.stuckAfterMs ?? DEFAULT_STUCK_AFTER_MS;
  }

  /**
   * Waits for the caches to sync, then starts the workers. Rejects if the cache sync fails;
   * resolves without starting anything if `stop()` came first. Call once.
   */
  async start(): Promise<void> {
    if (this.#started) throw new Error('Runner.start() may be called only once');
    this.#started = true;
    try {
      await this.#deps.waitForCacheSync(this.#syncAbort.signal);
    } catch (err) {
      if (this.#stopping !== undefined) return; // stop() aborted the wait; nothing to start
      throw err;
    }
    if (this.#stopping !== undefined) return;
    const now = this.#clock.now();
    for (let id = 0; id < this.#deps.concurrency; id++) {
      const worker: WorkerHealth = { id, key: undefined, busySince: undefined, lastProgressAt: now };
      this.#workers.push(worker);
      this.#exits.push(this.#runWorker(worker));
    }
    this.#running = true;
    this.#log.info({ workers: this.#deps.concurrency }, 'caches synced; workers started');
  }

  /**
   * Shuts the queue down (no new work), lets in-flight reconciles run for the grace period,
   * then aborts their signal; resolves when every worker has exited. Idempotent.
   */
  stop(): Promise<void> {
    this.#stopping ??= this.#stop();
    return this.#stopping;
  }

  health(): RunnerHealth {
    const now = this.#clock.now();
    let inFlight = 0;
    let oldest: number | undefined;
    for (const w of this.#workers) {
      if (w.busySince === undefined) continue;
      inFlight++;
      oldest = Math.max(oldest ?? 0, now - w.busySince);
    }
    return {
      running: this.#running,
      stuck: oldest !== undefined && oldest > this.#stuckAfterMs,
      stuckAfterMs: this.#stuckAfterMs,
      inFlight,
      oldestInFlightMs: oldest,
      workers: this.#workers.map((w) => ({ ...w })),
    };
  }

  async #stop(): Promise<void> {
    this.#syncAbort.abort();
    this.#deps.queue.shutDown();
    const grace = this.#clock.setTimeout(() => {
      this.#reconcileAbort.abort();
    }, this.#deps.stopGraceMs ?? DEFAULT_STOP_GRACE_MS);
    try {
      await Promise.all(this.#exits);
    } finally {
      this.#clock.clearTimeout(grace);
      this.#running = false;
    }
    this.#log.info({}, 'workers stopped');
  }

  async #runWorker(worker: WorkerHealth): Promise<void> {
    const { queue } = this.#deps;
    for (;;) {
      const request = await queue.get();
      if (request === undefined) return;
      const { key } = request;
      worker.key = key;
      worker.busySince = this.#clock.now();
      worker.lastProgressAt = worker.busySince;
      try {
        await this.#processOne(request);
      } catch (err) {
        // Only the logger can throw here; the worker must outlive it.
        this.#log.error(
          { key, error: err instanceof Error ? err.name : typeof err },
          'worker failed to record a reconcile result',
        );
      } finally {
        queue.done(key);
        worker.key = undefined;
        worker.busySince = undefined;
        worker.lastProgressAt = this.#clock.now();
      }
    }
  }

  async #processOne(request: Request): Promise<void> {
    const { queue, reconcile } = this.#deps;
    const { key } = request;
    let result: ReconcileResult;
    try {
      result = await reconcile(request, this.#reconcileAbort.signal);
    } catch (err) {
      this.#onError(request, err);
      return;
    }
    queue.forget(key);
    // Only a sync that asks to look again (or says it went through its dependencies) proves they
    // answer; a deleted SecretSync's cleanup returns nothing and may not have needed them.
    if (result.requeueAfterMs === undefined && result.reachedDependencies !== true) this.#outages.forget(key);
    else this.#releaseAfterOutage(key);
    const after = result.requeueAfterMs;
    if (after === undefined) return;
    if (!Number.isFinite(after) || after < 0) {
      this.#log.warn({ key, requeueAfterMs: after }, 'reconcile asked for an invalid requeue delay; not requeued');
      return;
    }
    queue.addAfter(key, after, Priority.Periodic);
  }

  #onError(request: Request, err: unknown): void {
    const { queue } = this.#deps;
    const { key } = request;
    const error = this.#deps.classify(err);
    if (queue.isShuttingDown()) {
      this.#log.debug({ key, error: error.summary }, 'reconcile ended during shutdown');
      return;
    }
    this.#outages.failed(key, error.terminal ? undefined : error.dependency);
    if (error.terminal) {
      queue.forget(key);
      this.#log.warn({ key, error: error.summary }, 'sync failed; not retried until the key changes');
      return;
    }
    // A failed fresh (pushed) request is retried fresh: the push is not served until a run succeeds.
    const backoffMs = queue.addRateLimited(key, Priority.Periodic, { fresh: request.fresh });
    const retries = queue.retries(key);
    const fields = { key, error: error.summary, retries, backoffMs };
    if (error.expected) this.#log.warn(fields, 'sync failed; will retry');
    else this.#log.error(fields, 'reconcile failed unexpectedly; will retry');
  }

  /**
   * `key` had failed because Vault or the API server was down and has now synced: what it depends on
   * is back. The keys parked on the same outage are queued now (at periodic priority, so the Vault
   * rate limit and the write budget pace them), not after backoffs that grew during the outage.
   * Their failure counts stay, so if the outage goes on their backoff keeps growing.
   */
  #releaseAfterOutage(key: Key): void {
    const back = this.#outages.succeeded(key);
    if (back === undefined || back.keys.length === 0) return;
    for (const k of back.keys) this.#deps.queue.add(k, Priority.Periodic);
    this.#log.info(
      { dependency: back.dependency, recovered: key, released: back.keys.length },
      'dependency answers again: retrying SecretSyncs that waited on it now, not after their backoff',
    );
  }
}
