/**
 * From the targets of an authenticated refresh request to queued SecretSyncs, within what the
 * caller's key may refresh. Knows nothing of HTTP.
 */
import type { Clock, Key } from '../core/types.js';
import { splitKey } from '../core/types.js';
import type { PathLookup } from './path-index.js';
import type { RefreshTargets } from './refresh-request.js';

/** What the controller offers the webhook (assembled in main). */
export interface RefreshTarget {
  /** Whether the SecretSync is in the informer cache. */
  exists(key: Key): boolean;
  /** Mark the keys to bypass the read cache and queue them at Priority.Push. */
  push(keys: readonly Key[]): void;
  /**
   * True while `key` waits in the queue from an earlier push and its reconcile has not started yet
   * (so it will still read Vault afresh). Optional: without it every trigger pushes, and the queue
   * collapses duplicates. It must turn false when the reconcile starts, not when it ends: a value
   * written to Vault while a reconcile runs needs another one.
   */
  pendingPush?(key: Key): boolean;
  /** False on a leader-election standby, whose queue does not run: pushes are refused with 503. */
  accepting?(): boolean;
}

/** Which SecretSyncs a key may refresh: all of them (global key) or those in some namespaces. */
export type Scope = { all: true } | { all: false; namespaces: ReadonlySet<string> };

export type RefreshOutcome =
  | { ok: true; /** SecretSyncs counted for the caller. */ queued: number; /** Keys actually pushed. */ pushed: number }
  | { ok: false; forbidden: true };

export interface RefresherDeps {
  index: PathLookup;
  target: RefreshTarget;
  clock: Clock;
  /** A SecretSync pushed this recently and still pending is counted but not pushed again. */
  coalesceWindowMs: number;
}

export const inScope = (scope: Scope, key: Key) => scope.all || scope.namespaces.has(splitKey(key).namespace);

export class Refresher {
  readonly #deps: RefresherDeps;
  /** Key → when the webhook last pushed it; insertion order is time order. */
  readonly #pushedAt = new Map<Key, number>();

  constructor(deps: RefresherDeps) {
    this.#deps = deps;
  }

  refresh(targets: RefreshTargets, scope: Scope): RefreshOutcome {
    // Naming another namespace's SecretSync is refused outright; paths are filtered instead,
    // because a path may be read in many namespaces and the caller cannot know which.
    if (targets.secretSyncs.some((k) => !inScope(scope, k))) return { ok: false, forbidden: true };

    const keys = new Set<Key>();
    for (const p of targets.paths) for (const k of this.#deps.index.lookup(p)) if (inScope(scope, k)) keys.add(k);
    for (const k of targets.secretSyncs) if (this.#deps.target.exists(k)) keys.add(k);

    const now = this.#deps.clock.now();
    this.#prune(now);
    const push: Key[] = [];
    for (const k of keys) {
      // After #prune, a remembered key is one pushed within the window.
      if (this.#pushedAt.has(k) && this.#deps.target.pendingPush?.(k)) continue;
      push.push(k);
      this.#pushedAt.delete(k);
      this.#pushedAt.set(k, now);
    }
    if (push.length > 0) this.#deps.target.push(push);
    return { ok: true, queued: keys.size, pushed: push.length };
  }

  #prune(now: number): void {
    for (const [k, at] of this.#pushedAt) {
      if (now - at < this.#deps.coalesceWindowMs) break;
      this.#pushedAt.delete(k);
    }
  }
}
