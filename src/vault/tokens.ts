import { LRUCache } from 'lru-cache';
import type { Clock, Logger } from '../core/types.js';
import type { VaultIdentity } from './types.js';
import { SharedFlight } from './flight.js';
import { identityLogFields } from './identity.js';
import type { ScheduleOptions } from './limiter.js';
import type { VaultLogin } from './login.js';
import type { VaultMetrics } from './metrics.js';

/** How long a token with TTL 0 (a non-expiring one) is used before logging in again anyway. */
export const NON_EXPIRING_TOKEN_CACHE_MS = 60 * 60_000;

/**
 * How long a token is used: until 30 s before its end but at most 90 % of its TTL, so a long
 * token is replaced well before expiry and a request never carries one about to lapse; never
 * less than half the TTL, so a very short TTL still gets some use.
 */
export function tokenCacheMs(ttlSeconds: number): number {
  if (ttlSeconds === 0) return NON_EXPIRING_TOKEN_CACHE_MS;
  const ttlMs = ttlSeconds * 1000;
  return Math.max(1, Math.floor(Math.max(ttlMs * 0.5, Math.min(ttlMs * 0.9, ttlMs - 30_000))));
}

export interface TokenCacheDeps {
  /** One Kubernetes-auth login; rate limited by the caller of the cache's constructor. */
  login: (identity: VaultIdentity, options: ScheduleOptions & { signal: AbortSignal }) => Promise<VaultLogin>;
  clock: Clock;
  log: Logger;
  metrics: VaultMetrics;
  maxIdentities?: number;
}

/**
 * Vault tokens by identity key, each kept until shortly before it expires. At most one login per
 * identity is in flight; concurrent callers join it. Tokens appear in no key and no log.
 */
export class TokenCache {
  readonly #deps: TokenCacheDeps;
  readonly #tokens: LRUCache<string, { token: string }>;
  readonly #logins = new SharedFlight<string>();

  constructor(deps: TokenCacheDeps) {
    this.#deps = deps;
    this.#tokens = new LRUCache({
      max: deps.maxIdentities ?? 10_000,
      perf: { now: () => deps.clock.now() },
      ttlResolution: 0,
    });
  }

  async get(identity: VaultIdentity, key: string, options: ScheduleOptions = {}): Promise<string> {
    const cached = this.#tokens.get(key);
    if (cached !== undefined) {
      this.#deps.metrics.cacheHit('token');
      return cached.token;
    }
    this.#deps.metrics.cacheMiss('token');
    return this.#logins.run(
      key,
      async (signal) => {
        const login = await this.#deps.login(identity, { priority: options.priority, tenant: options.tenant, signal });
        this.#tokens.set(key, { token: login.token }, { ttl: tokenCacheMs(login.ttlSeconds) });
        this.#deps.log.debug({ ...identityLogFields(identity), ttlSeconds: login.ttlSeconds }, 'logged in to Vault');
        return login.token;
      },
      options.signal,
    );
  }

  /**
   * Forgets `token` if it is still the cached one. Callers that saw a 403 with an older token
   * leave a newer one alone, so a burst of 403s causes one re-login, not one each.
   */
  invalidate(key: string, token: string): void {
    if (this.#tokens.peek(key)?.token === token) this.#tokens.delete(key);
  }

  close(reason: Error): void {
    this.#logins.abortAll(reason);
    this.#tokens.clear();
  }
}
