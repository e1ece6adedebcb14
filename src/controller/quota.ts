import type { SecretSync } from '../api/index.js';
import type { Key } from '../core/types.js';
import { splitKey } from '../core/types.js';
import { SyncError } from '../errors.js';

/**
 * At most `max` SecretSyncs of one namespace are synced: the oldest (by creation time, then name),
 * so a namespace cannot make the controller do unbounded work, and which ones are synced does not
 * change with the order events arrive in. 0 means no bound.
 */
export class NamespaceQuota {
  readonly #max: number;
  /** namespace → key → creation time (ms) */
  readonly #byNamespace = new Map<string, Map<Key, number>>();

  constructor(max: number) {
    this.#max = max;
  }

  get enabled(): boolean {
    return this.#max > 0;
  }

  /** Records a SecretSync; returns nothing. */
  upsert(key: Key, sync: SecretSync): void {
    if (!this.enabled) return;
    const { namespace } = splitKey(key);
    let keys = this.#byNamespace.get(namespace);
    if (keys === undefined) this.#byNamespace.set(namespace, (keys = new Map<Key, number>()));
    const created = Date.parse(sync.metadata.creationTimestamp ?? '');
    keys.set(key, Number.isNaN(created) ? Number.MAX_SAFE_INTEGER : created);
  }

  /** Forgets a SecretSync; returns the keys of its namespace that were over the bound and may now fit. */
  remove(key: Key): Key[] {
    if (!this.enabled) return [];
    const { namespace } = splitKey(key);
    const keys = this.#byNamespace.get(namespace);
    if (keys === undefined || !keys.delete(key)) return [];
    if (keys.size === 0) this.#byNamespace.delete(namespace);
    return keys.size >= this.#max ? [...keys.keys()] : [];
  }

  /** A terminal TooManySecretSyncs error if `key` is over its namespace's bound; undefined if it may sync. */
  check(key: Key): SyncError | undefined {
    if (!this.enabled) return undefined;
    const { namespace } = splitKey(key);
    const keys = this.#byNamespace.get(namespace);
    const mine = keys?.get(key);
    if (keys === undefined || mine === undefined || keys.size <= this.#max) return undefined;
    let older = 0;
    for (const [k, created] of keys) if (created < mine || (created === mine && k < key)) older++;
    if (older < this.#max) return undefined;
    return new SyncError(
      'TooManySecretSyncs',
      `namespace ${namespace} has ${keys.size} SecretSyncs and the controller syncs at most ${this.#max} per namespace (--namespace-max-secretsyncs); this one is among the newest: delete others or ask the platform team to raise the bound`,
    );
  }
}
