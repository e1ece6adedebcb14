/**
 * Which SecretSyncs read which Vault KV path, kept up to date from the SecretSync informer's
 * add/update/delete callbacks, so the webhook can turn "secret/myapp/config changed" into keys.
 */
import type { Key } from '../core/types.js';

export interface PathLookup {
  /** SecretSyncs reading `<mount>/<path>` as a caller writes it (see PathIndex.lookup). */
  lookup(fullPath: string): Key[];
}

export interface Location {
  mount: string;
  path: string;
}

const trimSlashes = (s: string) => s.replace(/^\/+|\/+$/g, '');
const locationId = (mount: string, path: string) => `${mount}\u0000${path}`;

export class PathIndex implements PathLookup {
  readonly #byKey = new Map<Key, Location[]>();
  readonly #byLocation = new Map<string, Set<Key>>();
  /** Known mounts → how many (SecretSync, location) pairs use them. */
  readonly #mounts = new Map<string, number>();

  /** Records that `key` reads `path` under KV mount `mount` (replacing what it read before). */
  upsert(key: Key, mount: string, path: string): void {
    this.set(key, [{ mount, path }]);
  }

  /** Records every location `key` reads (one per source item), replacing what it read before. */
  set(key: Key, locations: readonly Location[]): void {
    const unique = new Map<string, Location>();
    for (const l of locations) {
      const loc = { mount: trimSlashes(l.mount), path: trimSlashes(l.path) };
      unique.set(locationId(loc.mount, loc.path), loc);
    }
    const next = [...unique.values()];
    const ids = (locs: readonly Location[]) => locs.map((l) => locationId(l.mount, l.path)).join('\u0001');
    const old = this.#byKey.get(key);
    if (old !== undefined && ids(old) === ids(next)) return;
    this.remove(key);
    if (next.length === 0) return;
    this.#byKey.set(key, next);
    for (const loc of next) {
      const id = locationId(loc.mount, loc.path);
      let keys = this.#byLocation.get(id);
      if (!keys) this.#byLocation.set(id, (keys = new Set()));
      keys.add(key);
      this.#mounts.set(loc.mount, (this.#mounts.get(loc.mount) ?? 0) + 1);
    }
  }

  remove(key: Key): void {
    const old = this.#byKey.get(key);
    if (!old) return;
    this.#byKey.delete(key);
    for (const loc of old) {
      const id = locationId(loc.mount, loc.path);
      const keys = this.#byLocation.get(id);
      keys?.delete(key);
      if (keys?.size === 0) this.#byLocation.delete(id);
      const n = (this.#mounts.get(loc.mount) ?? 1) - 1;
      if (n > 0) this.#mounts.set(loc.mount, n);
      else this.#mounts.delete(loc.mount);
    }
  }

  syncsReadingPath(mount: string, path: string): Key[] {
    return [...(this.#byLocation.get(locationId(trimSlashes(mount), trimSlashes(path))) ?? [])];
  }

  /**
   * Splits `secret/myapp/config` into mount and path at the longest mount some SecretSync uses
   * (mounts may contain slashes: `kv/team-a/app`), and also accepts the KV v2 API form
   * `secret/data/myapp/config`. Both readings of a `data/` segment are looked up, since a path
   * under the mount may itself begin with `data/`; refreshing one SecretSync too many is harmless.
   */
  lookup(fullPath: string): Key[] {
    const segments = trimSlashes(fullPath).split('/');
    for (let i = segments.length - 1; i >= 1; i--) {
      const mount = segments.slice(0, i).join('/');
      if (!this.#mounts.has(mount)) continue;
      const rest = segments.slice(i);
      const keys = new Set(this.syncsReadingPath(mount, rest.join('/')));
      if (rest[0] === 'data' && rest.length > 1) {
        for (const k of this.syncsReadingPath(mount, rest.slice(1).join('/'))) keys.add(k);
      }
      return [...keys];
    }
    return [];
  }
}
