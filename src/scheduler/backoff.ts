export interface BackoffOptions {
  /** First retry delay, and the floor of every delay. Default 1 s. */
  baseMs?: number;
  /** Growth of the ceiling per consecutive failure. Default 2. */
  factor?: number;
  /** Cap of the ceiling. Default 5 min. */
  maxMs?: number;
  /** [0, 1) like Math.random; injected for tests. */
  rand?: () => number;
}

export const DEFAULT_BACKOFF = { baseMs: 1_000, factor: 2, maxMs: 300_000 } as const;

/**
 * The one growth rule of every backoff here (work queue, relists, `vaultsync trigger` retries):
 * after `failures` earlier consecutive failures, `min(maxMs, baseMs * factor^failures)`. Callers
 * choose the jitter below it.
 */
export function backoffCeiling(failures: number, baseMs: number, maxMs: number, factor = 2): number {
  // factor ** failures overflows to Infinity for large counts; min() caps it.
  return Math.min(maxMs, baseMs * factor ** failures);
}

/**
 * Per-key exponential backoff with full jitter above a floor.
 *
 * After n consecutive failures of a key (n = 0 for the first), the ceiling is
 * `min(maxMs, baseMs * factor^n)` and the delay is drawn uniformly from [baseMs, ceiling].
 * Full jitter spreads retries of many keys that failed together (Vault went down) so they
 * do not come back in one burst; the floor keeps a failing key from being retried at once.
 * A key's count is kept until `forget` (called on success), so it resets only then.
 */
export class ExponentialBackoff<K = string> {
  readonly #failures = new Map<K, number>();
  readonly #baseMs: number;
  readonly #factor: number;
  readonly #maxMs: number;
  readonly #rand: () => number;

  constructor(options: BackoffOptions = {}) {
    this.#baseMs = options.baseMs ?? DEFAULT_BACKOFF.baseMs;
    this.#factor = options.factor ?? DEFAULT_BACKOFF.factor;
    this.#maxMs = options.maxMs ?? DEFAULT_BACKOFF.maxMs;
    this.#rand = options.rand ?? Math.random;
    if (!(this.#baseMs > 0) || !(this.#factor >= 1) || !(this.#maxMs >= this.#baseMs)) {
      throw new RangeError(
        `backoff needs baseMs > 0, factor >= 1 and maxMs >= baseMs (got ${this.#baseMs}, ${this.#factor}, ${this.#maxMs})`,
      );
    }
  }

  /** Records one more failure of `key` and returns how long to wait before retrying it. */
  next(key: K): number {
    const failures = this.#failures.get(key) ?? 0;
    this.#failures.set(key, failures + 1);
    return this.delayFor(failures);
  }

  /** The delay after `failures` earlier consecutive failures (0 for the first retry). */
  delayFor(failures: number): number {
    const ceiling = backoffCeiling(failures, this.#baseMs, this.#maxMs, this.#factor);
    const r = Math.min(1, Math.max(0, this.#rand()));
    return this.#baseMs + r * (ceiling - this.#baseMs);
  }

  /** Consecutive failures recorded for `key` since the last `forget`. */
  retries(key: K): number {
    return this.#failures.get(key) ?? 0;
  }

  forget(key: K): void {
    this.#failures.delete(key);
  }

  clear(): void {
    this.#failures.clear();
  }

  /** Keys with a failure count, for memory checks. */
  get size(): number {
    return this.#failures.size;
  }
}
