/**
 * Remembers ids (GitHub delivery signatures) for a fixed time, to refuse a delivery seen before.
 * All entries live equally long, so insertion order is expiry order and pruning only looks at
 * the front. At most `max` ids are kept; beyond that the oldest are forgotten early.
 */
import type { Clock } from '../core/types.js';

export class ReplayGuard {
  readonly #ttlMs: number;
  readonly #max: number;
  readonly #clock: Clock;
  readonly #seen = new Map<string, number>();

  constructor(opts: { ttlMs: number; clock: Clock; max?: number }) {
    this.#ttlMs = opts.ttlMs;
    this.#clock = opts.clock;
    this.#max = opts.max ?? 100_000;
  }

  /** True when `id` was recorded within the last ttlMs; otherwise records it and returns false. */
  seenBefore(id: string): boolean {
    const now = this.#clock.now();
    for (const [old, expires] of this.#seen) {
      if (expires > now && this.#seen.size < this.#max) break;
      this.#seen.delete(old);
    }
    if (this.#seen.has(id)) return true;
    this.#seen.set(id, now + this.#ttlMs);
    return false;
  }
}
