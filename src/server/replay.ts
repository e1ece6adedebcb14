/**
 * Remembers ids (GitHub delivery signatures and delivery ids) for a fixed time, to refuse a
 * delivery seen before.
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
    return this.seenAny([id]);
  }

  /**
   * True when any of `ids` was recorded within the last ttlMs. Records every one not yet recorded
   * either way, so that each of them is refused for the whole window.
   */
  seenAny(ids: readonly string[]): boolean {
    const now = this.#clock.now();
    for (const [old, expires] of this.#seen) {
      if (expires > now && this.#seen.size + ids.length <= this.#max) break;
      this.#seen.delete(old);
    }
    let seen = false;
    for (const id of ids) {
      if (this.#seen.has(id)) seen = true;
      else this.#seen.set(id, now + this.#ttlMs);
    }
    return seen;
  }
}
