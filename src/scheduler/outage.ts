import { isSyncError } from '../errors.js';
import type { Key } from '../sync/types.js';

/** What a sync depends on that can be down for everyone at once. */
export type Dependency = 'vault' | 'kubernetes';

/**
 * The dependency whose unavailability made a sync fail, if that is why: Vault unreachable or
 * answering 5xx/429 (VaultUnavailable), or the API server not answering or answering 5xx/429 — or
 * 403, which a restarting API server answers until its RBAC caches are filled (a lasting 403 only
 * costs an extra retry when the API server comes back from an outage). Anything else (a conflict,
 * a refused object, bad data) is the SecretSync's own problem.
 */
export function unavailableDependency(err: unknown): Dependency | undefined {
  if (!isSyncError(err) || err.terminal) return undefined;
  if (err.reason === 'VaultUnavailable') return 'vault';
  const status = err.status;
  if (
    err.reason === 'KubernetesApiError' &&
    (status === undefined || status === 403 || status === 429 || status >= 500)
  ) {
    return 'kubernetes';
  }
  return undefined;
}

/**
 * Keys that failed because a dependency was down wait for their backoff, which after a long outage
 * is minutes. They are parked here, and when any parked key of that dependency syncs again (the
 * dependency is back) they are all handed back at once, so recovery takes the time to work through
 * them, not the longest backoff.
 *
 * A released key that fails again is not parked for that failure: it waits one backoff step first.
 * So a dependency that is down only for some keys (another Vault address) costs those keys at most
 * one extra attempt per backoff step, never a retry loop, however often others recover.
 */
export class OutageWaits {
  readonly #parked = new Map<Key, Dependency>();
  readonly #released = new Set<Key>();

  /** Records a failed attempt of `key`. */
  failed(key: Key, err: unknown): void {
    const dependency = unavailableDependency(err);
    const wasReleased = this.#released.delete(key);
    if (dependency !== undefined && !wasReleased) this.#parked.set(key, dependency);
    else this.#parked.delete(key);
  }

  /**
   * Records a successful attempt of `key`. If it was parked, its dependency is back: returns the
   * other keys parked on it (now released), to be retried at once.
   */
  succeeded(key: Key): { dependency: Dependency; keys: Key[] } | undefined {
    this.#released.delete(key);
    const dependency = this.#parked.get(key);
    if (dependency === undefined) return undefined;
    this.#parked.delete(key);
    const keys: Key[] = [];
    for (const [k, d] of this.#parked) {
      if (d !== dependency) continue;
      keys.push(k);
      this.#parked.delete(k);
      this.#released.add(k);
    }
    return { dependency, keys };
  }

  /** Drops `key` without taking its success as a sign that anything is back (a deleted SecretSync). */
  forget(key: Key): void {
    this.#parked.delete(key);
    this.#released.delete(key);
  }

  /** Keys parked or awaiting the result of their release, for memory checks. */
  get size(): number {
    return this.#parked.size + this.#released.size;
  }
}
