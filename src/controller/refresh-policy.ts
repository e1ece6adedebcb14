import { createHash } from 'node:crypto';
import type { RefreshPolicy, SecretSync } from '../api/index.js';
import type { Key } from '../core/types.js';
import { ownerOf } from './apply.js';
import { READY, type StoredSecret } from './types.js';

/**
 * When a reconcile reads Vault, per spec.refresh.policy (docs/refresh.md). The decision is taken
 * from state (the SecretSync, its status, the cached Secret, what this process remembers), never
 * from which event woke the key, so a restart, a relist or a duplicate event changes nothing.
 */

/** `kubectl annotate ssync myapp vaultsync.io/force-sync=$(date +%s) --overwrite`: a new value asks
 *  for one fresh read (bypassing the shared read cache); status.lastForceSync records the value handled. */
export const FORCE_SYNC_ANNOTATION = 'vaultsync.io/force-sync';

/** Longer annotation values are recorded as a digest, so status stays small. */
const MAX_RECORDED_VALUE = 253;

export const policyOf = (sync: SecretSync): RefreshPolicy => sync.spec.refresh.policy ?? 'Periodic';

/** The force-sync value as status records it; undefined without the annotation. The value is the
 *  user's (a timestamp, usually), not secret material; a long one is recorded as its sha256. */
export function forceSyncToken(sync: SecretSync): string | undefined {
  const value = sync.metadata.annotations?.[FORCE_SYNC_ANNOTATION];
  if (value === undefined) return undefined;
  return value.length <= MAX_RECORDED_VALUE ? value : `sha256:${createHash('sha256').update(value).digest('hex')}`;
}

/** The annotation holds a value not handled yet. */
export function forceSyncPending(sync: SecretSync): boolean {
  const token = forceSyncToken(sync);
  return token !== undefined && token !== sync.status?.lastForceSync;
}

/** What this process knows of a key beyond its status: kept only in memory, forgotten on delete. */
export interface Remembered {
  /** SecretStore.digestData of the data last written or confirmed: a different cached digest is a
   *  hand edit to repair. */
  dataDigest: string;
  /** When a source asked to be read again at the latest (a lease to renew), in clock ms. */
  dueAt?: number;
  /** The read group of the last sync and when the data it used was read (clock ms): a sync woken by
   *  an event may take a shared read no older than that (reconcile.ts). */
  read?: { group: string; at: number; notBefore?: number };
  /** The target Secret as this process last wrote it or found it equal, for that generation of the
   *  spec (set once the sync is complete): while the cache holds this very resourceVersion, an event
   *  cannot have changed anything but Vault (reconcile.ts). */
  secret?: { name: string; resourceVersion: string; generation: number | undefined };
}

export class RefreshMemory {
  readonly #byKey = new Map<Key, Remembered>();

  get(key: Key): Remembered | undefined {
    return this.#byKey.get(key);
  }

  set(key: Key, value: Remembered): void {
    this.#byKey.set(key, value);
  }

  forget(key: Key): void {
    this.#byKey.delete(key);
  }

  get size(): number {
    return this.#byKey.size;
  }
}

export type ReadDecision =
  /** Read Vault; `fresh` bypasses shared reads (a push or a force-sync). */
  | { read: true; fresh: boolean }
  /** Leave the Secret as it is: no read, no write. `secret` is the cached target. */
  | { read: false; secret: StoredSecret; why: 'CreatedOnce' | 'OnChange' };

export interface DecideInput {
  key: Key;
  sync: SecretSync;
  /** The request asked for a fresh read (a webhook push). */
  fresh: boolean;
  /** The cached Secret of the current target name, if any. */
  secret: StoredSecret | undefined;
  remembered: Remembered | undefined;
  now: number;
  /** The SecretSync's source holds something with a lifetime (a lease): after a restart, when this
   *  process remembers nothing of it, OnChange reads once so the source can find it again. */
  sourceHoldsLeases: boolean;
}

/**
 * Periodic: always read (the queue's timer decides when). OnChange: read when the spec changed since
 * the last success, on a push or a force-sync, when a lease is due, or to repair a Secret that is
 * missing or was edited by hand. CreatedOnce: read (fresh) only while our Secret does not exist; a
 * force-sync or push does not change that (recreate it by deleting it).
 */
export function decideRead(input: DecideInput): ReadDecision {
  const { sync, secret, key } = input;
  const policy = policyOf(sync);
  const force = forceSyncPending(sync);
  const fresh = input.fresh || force;
  const ours = secret !== undefined && ownerOf(secret) === key && secret.metadata.deletionTimestamp === undefined;
  // The one read of a CreatedOnce Secret's life is fresh: created again after a deletion, it holds
  // what Vault holds now, not what another SecretSync's shared read saw minutes ago.
  if (policy === 'CreatedOnce') return ours ? { read: false, secret, why: 'CreatedOnce' } : { read: true, fresh: true };
  if (policy === 'Periodic' || fresh || !ours) return { read: true, fresh };
  const ready = sync.status?.conditions?.find((c) => c.type === READY);
  const current = sync.status?.observedGeneration === sync.metadata.generation && ready?.status === 'True';
  if (!current) return { read: true, fresh };
  const remembered = input.remembered;
  if (remembered === undefined)
    return input.sourceHoldsLeases ? { read: true, fresh } : { read: false, secret, why: 'OnChange' };
  if (remembered.dueAt !== undefined && input.now >= remembered.dueAt) return { read: true, fresh };
  if (remembered.dataDigest !== secret.dataDigest) return { read: true, fresh };
  return { read: false, secret, why: 'OnChange' };
}

/**
 * When to look again after a sync. Periodic: the refresh phase (or sooner if the source says so).
 * OnChange and CreatedOnce: no timer, except what a source asks for (lease renewal) under OnChange.
 */
export function requeueAfter(
  policy: RefreshPolicy,
  periodicMs: number,
  refreshWithinMs: number | undefined,
): number | undefined {
  if (policy === 'Periodic') return Math.min(periodicMs, refreshWithinMs ?? Infinity);
  if (policy === 'OnChange') return refreshWithinMs;
  return undefined;
}
