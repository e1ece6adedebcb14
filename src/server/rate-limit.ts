/**
 * The webhook's budget before a body is read: per client, and a global cap on all clients together.
 *
 * A request first takes a token from its client's bucket; only then from the global bucket. So a
 * client over its own limit is refused without touching the global budget, and one client can take
 * at most its own rate of the global one, which config.ts keeps at half of it or less: one flooding
 * client cannot lock out another, and many clients together cannot exceed the global cap. A request
 * the global cap refuses still counts against its client, so retrying harder gains nothing.
 * Who the client is (the peer, or the address a trusted proxy forwarded) is fastify's `req.ip`,
 * decided by the server's trustProxy (--webhook-trusted-proxies).
 */
import type { Clock } from '../core/types.js';
import { TokenBuckets } from '../scheduler/token-buckets.js';

/** The global rate when none is configured: this many clients at their own limit. */
export const DEFAULT_GLOBAL_RATE_FACTOR = 10;

export interface ClientRateLimitOptions {
  /** Requests per minute of one client (also its burst). */
  perClientPerMinute: number;
  /** Requests per minute of all clients together (also the burst); at least twice perClientPerMinute. */
  globalPerMinute: number;
  clock: Clock;
  /** Clients remembered; the least recently seen are forgotten first (they start again with a full bucket). */
  maxClients?: number;
}

export class ClientRateLimit {
  readonly #clients: TokenBuckets;
  readonly #global: TokenBuckets;

  constructor(opts: ClientRateLimitOptions) {
    if (opts.globalPerMinute < 2 * opts.perClientPerMinute) {
      throw new RangeError(
        `the global webhook rate (${opts.globalPerMinute}/min) must be at least twice the per-client rate (${opts.perClientPerMinute}/min)`,
      );
    }
    const minute = (n: number) => ({ burst: n, refill: { tokens: n, everyMs: 60_000 }, clock: opts.clock });
    this.#clients = new TokenBuckets({ ...minute(opts.perClientPerMinute), maxKeys: opts.maxClients ?? 10_000 });
    this.#global = new TokenBuckets(minute(opts.globalPerMinute));
  }

  /** 0 when `client` may send this request now, else the milliseconds until it may. */
  take(client: string): number {
    const own = this.#clients.take(client);
    if (own > 0) return own;
    return this.#global.take('all');
  }
}
