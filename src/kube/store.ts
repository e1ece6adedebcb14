/** Objects as the informer caches them: name and namespace are always present. */
export interface KubeObject {
  metadata: {
    name: string;
    namespace?: string | undefined;
    uid?: string | undefined;
    resourceVersion?: string | undefined;
  };
}

export type ChangeKind = 'add' | 'update' | 'delete';
export type ChangeListener<T> = (kind: ChangeKind, key: string, obj: T, old: T | undefined) => void;

/** `namespace/name`, or `name` for a cluster-scoped object. */
export function objectKey(obj: KubeObject): string {
  const ns = obj.metadata.namespace;
  return ns === undefined || ns === '' ? obj.metadata.name : `${ns}/${obj.metadata.name}`;
}

const NUMERIC = /^\d+$/;

/**
 * Whether resourceVersion `a` is strictly newer than `b`. resourceVersions are opaque by API
 * convention; the API server's are etcd revisions (integers), the only ones ordered here. Anything
 * else is "not newer", so an unorderable event is applied rather than dropped.
 */
export function isNewer(a: string | undefined, b: string | undefined): boolean {
  if (a === undefined || b === undefined || !NUMERIC.test(a) || !NUMERIC.test(b)) return false;
  return BigInt(a) > BigInt(b);
}

/** How long a Secret we deleted ourselves is kept from reappearing through a late watch event. */
const TOMBSTONE_TTL_MS = 10 * 60_000;

/**
 * The informer cache: objects by key, an optional secondary index, and uid tombstones for our own
 * deletes. Every change that did not come from our own write is reported to `onChange`.
 */
export class Store<T extends KubeObject> {
  private readonly objects = new Map<string, T>();
  private readonly index = new Map<string, Set<string>>();
  private readonly tombstones = new Map<string, number>();

  constructor(
    private readonly onChange: ChangeListener<T>,
    private readonly indexBy: ((obj: T) => string | undefined) | undefined,
    private readonly now: () => number,
  ) {}

  get(key: string): T | undefined {
    return this.objects.get(key);
  }

  values(): T[] {
    return [...this.objects.values()];
  }

  byIndex(value: string): T[] {
    const keys = this.index.get(value);
    if (keys === undefined) return [];
    return [...keys].map((k) => this.objects.get(k)).filter((o): o is T => o !== undefined);
  }

  /** Adds or updates from a watch event, a list or our own write; an older object never replaces a newer one. */
  apply(obj: T, notify = true): void {
    const uid = obj.metadata.uid;
    if (uid !== undefined && this.isTombstoned(uid)) return;
    const key = objectKey(obj);
    const old = this.objects.get(key);
    if (old !== undefined) {
      if (isNewer(old.metadata.resourceVersion, obj.metadata.resourceVersion)) return;
      if (old.metadata.resourceVersion !== undefined && old.metadata.resourceVersion === obj.metadata.resourceVersion) {
        return;
      }
    }
    this.set(key, obj, old);
    if (notify) this.onChange(old === undefined ? 'add' : 'update', key, obj, old);
  }

  /** Removes on a watch DELETED event, unless the cache already holds a newer object of that name. */
  remove(obj: T): void {
    const uid = obj.metadata.uid;
    if (uid !== undefined) this.tombstones.delete(uid);
    const key = objectKey(obj);
    const old = this.objects.get(key);
    if (old === undefined) return;
    if (isNewer(old.metadata.resourceVersion, obj.metadata.resourceVersion)) return;
    this.unset(key, old);
    this.onChange('delete', key, old, old);
  }

  /**
   * Our own successful delete: drops the object now and keeps a tombstone of its uid, so a watch
   * event still in flight for it cannot bring it back into the cache.
   */
  removeLocal(key: string, uid: string): void {
    this.pruneTombstones();
    this.tombstones.set(uid, this.now() + TOMBSTONE_TTL_MS);
    const old = this.objects.get(key);
    if (old?.metadata.uid === uid) this.unset(key, old);
  }

  /**
   * Makes the objects of one namespace (all when undefined) equal a fresh list taken at
   * `listResourceVersion`, reporting what changed. An object written by us after the list was
   * taken (newer than it) is kept.
   */
  replace(namespace: string | undefined, items: T[], listResourceVersion: string): void {
    const listed = new Set<string>();
    for (const obj of items) {
      listed.add(objectKey(obj));
      this.apply(obj);
    }
    for (const [key, old] of this.objects) {
      if (listed.has(key)) continue;
      if (namespace !== undefined && old.metadata.namespace !== namespace) continue;
      if (isNewer(old.metadata.resourceVersion, listResourceVersion)) continue;
      this.unset(key, old);
      this.onChange('delete', key, old, old);
    }
  }

  private set(key: string, obj: T, old: T | undefined): void {
    if (old !== undefined) this.unindex(key, old);
    this.objects.set(key, obj);
    const value = this.indexBy?.(obj);
    if (value === undefined) return;
    let keys = this.index.get(value);
    if (keys === undefined) {
      keys = new Set();
      this.index.set(value, keys);
    }
    keys.add(key);
  }

  private unset(key: string, old: T): void {
    this.objects.delete(key);
    this.unindex(key, old);
  }

  private unindex(key: string, obj: T): void {
    const value = this.indexBy?.(obj);
    if (value === undefined) return;
    const keys = this.index.get(value);
    keys?.delete(key);
    if (keys?.size === 0) this.index.delete(value);
  }

  private isTombstoned(uid: string): boolean {
    const until = this.tombstones.get(uid);
    if (until === undefined) return false;
    if (until > this.now()) return true;
    this.tombstones.delete(uid);
    return false;
  }

  private pruneTombstones(): void {
    const now = this.now();
    for (const [uid, until] of this.tombstones) if (until <= now) this.tombstones.delete(uid);
  }
}
