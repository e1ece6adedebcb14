import { LRUCache } from 'lru-cache';
import type { Clock } from '../core/types.js';
import type { KvReadRequest, KvSecret, VaultReader } from './types.js';
import { SharedFlight } from './flight.js';
import { identityKey, readGroupKey } from './identity.js';
import type { VaultMetrics } from './metrics.js';

export interface CoalescingReaderDeps {
  /** The real read; `key` is identityKey(req.identity). */
  fetch: (
    req: KvReadRequest,
    key: string,
    options: { priority?: number; tenant?: string; signal: AbortSignal },
  ) => Promise<KvSecret>;
  /** How long a result is shared; 0 shares only in-flight reads. */
  cacheTtlMs: number;
  clock: Clock;
  metrics: VaultMetrics;
  maxEntries?: number;
}

/** The secret itself when frozen (what the real reader returns, see kv.ts), else a copy. */
const shareable = (secret: KvSecret): KvSecret => (Object.isFrozen(secret) ? secret : structuredClone(secret));

interface Cached {
  secret: KvSecret;
  /** When the read that produced it started (clock ms). */
  readAt: number;
  /** Start order of the read that produced it, so an older read never replaces a newer result. */
  seq: number;
}

/**
 * Reads of one (identity, mount, path, version) share one in-flight request and a short-lived
 * result. The identity is part of every key: a result is never handed to another identity.
 * A result is deeply frozen (kv.ts), so every caller and the cache share one copy and none can
 * change what another sees: a small answer that parses into a large object graph is held once.
 */
export class CoalescingReader implements VaultReader {
  readonly #deps: CoalescingReaderDeps;
  readonly #cache: LRUCache<string, Cached> | undefined;
  readonly #flights = new SharedFlight<KvSecret>();
  #seq = 0;

  constructor(deps: CoalescingReaderDeps) {
    this.#deps = deps;
    this.#cache =
      deps.cacheTtlMs > 0
        ? new LRUCache({
            max: deps.maxEntries ?? 10_000,
            ttl: deps.cacheTtlMs,
            // Expiry follows the injected clock exactly (no cached "now").
            perf: { now: () => deps.clock.now() },
            ttlResolution: 0,
          })
        : undefined;
  }

  async readKv(req: KvReadRequest, signal?: AbortSignal): Promise<KvSecret> {
    const idKey = identityKey(req.identity);
    const key = readGroupKey(req.identity, req);
    const now = this.#deps.clock.now();
    // A fresh read of a push accepts what was read since the push (readAt is taken before the request
    // is sent, and the change was written before the push): the readers of one push share one read,
    // in flight or just cached, and nothing older. Without a push time (a force-sync), only a read
    // started now.
    const since = req.fresh === true ? (req.freshSince ?? now) : undefined;
    if (this.#cache !== undefined && (since === undefined || req.freshSince !== undefined)) {
      const hit = this.#cache.get(key);
      const maxAge = req.maxAgeMs ?? this.#deps.cacheTtlMs;
      const ok = hit !== undefined && (since === undefined ? now - hit.readAt <= maxAge : hit.readAt >= since);
      if (ok) {
        this.#deps.metrics.cacheHit('read');
        return shareable(hit.secret);
      }
      this.#deps.metrics.cacheMiss('read');
    }
    // A fresh read joins only one that started for the same push (or later: see #fetch); a plain
    // read in flight may have left before the change in Vault that prompted the push.
    const flightKey = since === undefined ? `${key} plain` : `${key} fresh ${since}`;
    return shareable(await this.#flights.run(flightKey, (s) => this.#fetch(req, idKey, key, s), signal));
  }

  close(reason: Error): void {
    this.#flights.abortAll(reason);
    this.#cache?.clear();
  }

  async #fetch(req: KvReadRequest, idKey: string, key: string, signal: AbortSignal): Promise<KvSecret> {
    this.#seq += 1;
    const seq = this.#seq;
    const readAt = this.#deps.clock.now();
    const got = await this.#deps.fetch(req, idKey, { priority: req.priority, tenant: req.tenant, signal });
    // One shallow frozen wrapper per read: its data is the (frozen) graph every sharer holds.
    const secret = Object.freeze({ ...shareable(got), readAt });
    const current = this.#cache?.peek(key);
    if (current === undefined || current.seq < seq) this.#cache?.set(key, { secret, seq, readAt });
    return secret;
  }
}
