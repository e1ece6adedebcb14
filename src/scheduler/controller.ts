import { isSyncError } from '../errors.js';
import type { Key, Logger } from '../sync/types.js';
import { systemClock, type SchedulerClock } from './clock.js';
import { jitteredInterval } from './jitter.js';
import { OutageWaits } from './outage.js';
import { Priority } from './priority.js';
import type { WorkQueue } from './workqueue.js';

export interface ReconcileResult {
  /** Look at the key again after about this long (jittered down by up to 10 %, unless `spread`). */
  requeueAfterMs?: number;
  /** The delay is already spread by the caller (phase-aligned refresh): use it as it is. */
  spread?: boolean;
}

/**
 * The reconcile contract (STYLE.md §1): makes one key's state right; safe to repeat.
 * Throws to be retried with backoff, or a SyncError with `terminal: true` to stop retrying
 * until the key is added again. Must give up promptly once `signal` aborts.
 */
export type ReconcileFn = (key: Key, signal: AbortSignal) => Promise<ReconcileResult>;

export type ReconcileOutcome = 'success' | 'retry' | 'terminal';

export interface ControllerMetrics {
  observeReconcile(outcome: ReconcileOutcome, durationSeconds: number): void;
}

export interface ControllerDeps {
  queue: WorkQueue;
  reconcile: ReconcileFn;
  /** Resolves when the informer caches hold a full list; workers start only after it. */
  waitForCacheSync: (signal: AbortSignal) => Promise<void>;
  /** Number of workers (config.concurrency). */
  concurrency: number;
  log: Logger;
  metrics?: ControllerMetrics;
  clock?: SchedulerClock;
  /** Randomness of the refresh jitter; [0, 1) like Math.random. */
  rand?: () => number;
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

export interface ControllerHealth {
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
 * a terminal SyncError forgets the key; anything else is retried with backoff.
 */
export class Controller {
  readonly #deps: ControllerDeps;
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

  constructor(deps: ControllerDeps) {
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
    if (this.#started) throw new Error('Controller.start() may be called only once');
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

  health(): ControllerHealth {
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
      const key = await queue.get();
      if (key === undefined) return;
      worker.key = key;
      worker.busySince = this.#clock.now();
      worker.lastProgressAt = worker.busySince;
      try {
        await this.#processOne(key);
      } catch (err) {
        // Only the logger or metrics can throw here; the worker must outlive them.
        this.#log.error({ key, error: describeError(err) }, 'worker failed to record a reconcile result');
      } finally {
        queue.done(key);
        worker.key = undefined;
        worker.busySince = undefined;
        worker.lastProgressAt = this.#clock.now();
      }
    }
  }

  async #processOne(key: Key): Promise<void> {
    const { queue, reconcile, metrics } = this.#deps;
    const started = this.#clock.now();
    const seconds = (): number => (this.#clock.now() - started) / 1000;
    let result: ReconcileResult;
    try {
      result = await reconcile(key, this.#reconcileAbort.signal);
    } catch (err) {
      this.#onError(key, err);
      metrics?.observeReconcile(isSyncError(err) && err.terminal ? 'terminal' : 'retry', seconds());
      return;
    }
    queue.forget(key);
    // Only a sync that asks to look again went through its dependencies; a deleted SecretSync's
    // cleanup returns nothing and may not have needed them.
    if (result.requeueAfterMs === undefined) this.#outages.forget(key);
    else this.#releaseAfterOutage(key);
    metrics?.observeReconcile('success', seconds());
    const after = result.requeueAfterMs;
    if (after === undefined) return;
    if (!Number.isFinite(after) || after < 0) {
      this.#log.warn({ key, requeueAfterMs: after }, 'reconcile asked for an invalid requeue delay; not requeued');
      return;
    }
    queue.addAfter(key, result.spread === true ? after : jitteredInterval(after, this.#deps.rand), Priority.Periodic);
  }

  #onError(key: Key, err: unknown): void {
    const { queue } = this.#deps;
    if (queue.isShuttingDown()) {
      this.#log.debug({ key, error: describeError(err) }, 'reconcile ended during shutdown');
      return;
    }
    this.#outages.failed(key, err);
    if (isSyncError(err) && err.terminal) {
      queue.forget(key);
      this.#log.warn({ key, reason: err.reason, error: err.message }, 'sync failed; not retried until the key changes');
      return;
    }
    const backoffMs = queue.addRateLimited(key);
    const retries = queue.retries(key);
    if (isSyncError(err)) {
      this.#log.warn({ key, reason: err.reason, error: err.message, retries, backoffMs }, 'sync failed; will retry');
    } else {
      this.#log.error(
        { key, error: describeError(err), retries, backoffMs },
        'reconcile threw a non-SyncError; will retry',
      );
    }
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

/**
 * Name and message only: the error object itself is never logged, because its other fields
 * (an HTTP client's request config, a cause) can carry tokens or secret data.
 */
function describeError(err: unknown): string {
  return err instanceof Error ? `${err.name}: ${err.message}` : `non-Error thrown (${typeof err})`;
}
