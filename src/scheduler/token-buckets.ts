/**
 * Token buckets by key: a key starts with `burst` tokens and regains `refill.tokens` every
 * `refill.everyMs`, up to `burst`. Keys are remembered up to `maxKeys` (least recently seen
 * forgotten first; a forgotten key starts again with a full bucket, which is no more than a new
 * key gets). Used for the webhook's per-client budget and for Events per object.
 *
 * Levels are counted in units of 1/everyMs of a token, so with whole-millisecond clocks every
 * sum and comparison is exact: a token is back at exactly the millisecond it is due.
 */
import type { Clock } from '../core/types.js';

export interface TokenBucketsOptions {
  burst: number;
  refill: { tokens: number; everyMs: number };
  clock: Clock;
  maxKeys?: number;
}

interface Bucket {
  units: number;
  at: number;
}

export class TokenBuckets {
  /** Units in one token; a bucket regains `#perMs` units a millisecond. */
  readonly #unit: number;
  readonly #perMs: number;
  readonly #capacity: number;
  readonly #clock: Clock;
  readonly #max: number;
  /** Insertion order is recency: a touched bucket is re-inserted at the end. */
  readonly #buckets = new Map<string, Bucket>();

  constructor(opts: TokenBucketsOptions) {
    const { burst, refill } = opts;
    if (!(burst >= 1) || !(refill.tokens > 0) || !(refill.everyMs > 0)) {
      throw new RangeError(
        `token buckets need burst >= 1 and a positive refill (got ${burst}, ${refill.tokens} per ${refill.everyMs} ms)`,
      );
    }
    this.#unit = refill.everyMs;
    this.#perMs = refill.tokens;
    this.#capacity = burst * refill.everyMs;
    this.#clock = opts.clock;
    this.#max = opts.maxKeys ?? 10_000;
  }

  /** Takes one token from `key`'s bucket: 0 when there was one, else the milliseconds until there is. */
  take(key: string): number {
    const now = this.#clock.now();
    const old = this.#buckets.get(key);
    const units = old ? Math.min(this.#capacity, old.units + (now - old.at) * this.#perMs) : this.#capacity;
    this.#buckets.delete(key);
    if (units >= this.#unit) {
      this.#remember(key, { units: units - this.#unit, at: now });
      return 0;
    }
    this.#remember(key, { units, at: now });
    return Math.ceil((this.#unit - units) / this.#perMs);
  }

  #remember(key: string, bucket: Bucket): void {
    this.#buckets.set(key, bucket);
    if (this.#buckets.size > this.#max) {
      const oldest = this.#buckets.keys().next();
      if (!oldest.done) this.#buckets.delete(oldest.value);
    }
  }
}
