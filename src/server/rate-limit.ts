/**
 * Per-client token buckets: each client may make `perMinute` requests per minute, in bursts of at
 * most `perMinute`. Clients are remembered up to `maxClients` (least recently seen forgotten first;
 * a forgotten client starts again with a full bucket, which is no more than a new client gets).
 */
import type { Clock } from '../core/types.js';

export interface RateLimiterOptions {
  perMinute: number;
  clock: Clock;
  maxClients?: number;
}

interface Bucket {
  tokens: number;
  at: number;
}

export class RateLimiter {
  readonly #perMs: number;
  readonly #capacity: number;
  readonly #clock: Clock;
  readonly #max: number;
  /** Insertion order is recency: a touched bucket is re-inserted at the end. */
  readonly #buckets = new Map<string, Bucket>();

  constructor(opts: RateLimiterOptions) {
    this.#capacity = opts.perMinute;
    this.#perMs = opts.perMinute / 60_000;
    this.#clock = opts.clock;
    this.#max = opts.maxClients ?? 10_000;
  }

  /** Takes one request from `client`'s bucket: 0 when allowed, else the milliseconds until one is. */
  take(client: string): number {
    const now = this.#clock.now();
    const old = this.#buckets.get(client);
    const tokens = old ? Math.min(this.#capacity, old.tokens + (now - old.at) * this.#perMs) : this.#capacity;
    this.#buckets.delete(client);
    if (tokens >= 1) {
      this.#remember(client, { tokens: tokens - 1, at: now });
      return 0;
    }
    this.#remember(client, { tokens, at: now });
    return Math.ceil((1 - tokens) / this.#perMs);
  }

  #remember(client: string, bucket: Bucket): void {
    this.#buckets.set(client, bucket);
    if (this.#buckets.size > this.#max) {
      const oldest = this.#buckets.keys().next();
      if (!oldest.done) this.#buckets.delete(oldest.value);
    }
  }
}
