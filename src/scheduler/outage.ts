import type { Key } from '../core/types.js';

/** What many keys depend on and can be down for all of them at once: a name chosen by the classifier. */
export type Dependency = string;

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

  /** Records a failed attempt of `key`, and the dependency that was down if that is why. */
  failed(key: Key, dependency: Dependency | undefined): void {
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
