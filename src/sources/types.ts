import type { SecretSync, SourceItem } from '../api/index.js';
import type { Key } from '../core/types.js';
import type { VaultIdentity } from '../vault/types.js';

/** What a source item reads, whoever reads it: for messages, the webhook's path index and the read group. */
export interface SourceTarget {
  mount: string;
  path: string;
  /** A pinned version, where the source has versions. */
  version?: number;
}

export interface SourceRequest {
  /** The SecretSync being synced. */
  sync: SecretSync;
  /** The source item being read (spec.sources[index], or the spec.vault.kv shorthand as item 0). */
  item: SourceItem;
  index: number;
  /** Who reads: the SecretSync's Vault identity. */
  identity: VaultIdentity;
  target: SourceTarget;
  /** Bypass shared results (a push asked for a fresh read). */
  fresh: boolean;
  /** With `fresh`: when the push came (clock ms); results read since then are fresh enough. */
  freshSince?: number;
  /** Accept a shared result at most this old. */
  maxAgeMs: number;
  /** Priority of the Vault requests, higher first. */
  priority: number;
}

export interface SourceResult {
  /** Values by name, raw: picks, nested properties, decoding and templates are render/'s job, the
   *  same for every kind of source. */
  data: Record<string, unknown>;
  /** The version reported in status and on the Secret. */
  version: number;
  /** When the data was read (clock ms), if it was shared and may be older than this sync: the next
   *  periodic refresh counts from it. Absent: read by this sync. */
  readAt?: number;
  /** When this result must be looked at again at the latest, whatever the refresh interval (a lease
   *  to renew, a certificate to re-issue), in ms from now. Absent: the refresh interval decides. */
  refreshWithinMs?: number;
  /** When what this result holds stops working for good, ms since the epoch: a certificate's notAfter,
   *  shown in status. Not a lease's end, which moves at every renewal (status would be written each time). */
  notAfter?: number;
}

/**
 * One kind of secret source (STYLE.md §8). Adding a kind is one member of the source item
 * (api/schema.ts) and one new file implementing this, listed in main.ts; reconcile never branches
 * on the kind.
 */
export interface Source {
  /** The member of a source item that selects this source, e.g. `kv`. */
  readonly kind: string;
  /** What `item` of `sync` reads through this source, or undefined if the item is not of this kind. */
  target(item: SourceItem, sync: SecretSync): SourceTarget | undefined;
  /** Reads with the request's identity. Throws SyncError (Vault* or BadVaultData reasons). */
  read(req: SourceRequest, signal: AbortSignal): Promise<SourceResult>;
  /** Gives back what the source holds for a SecretSync that is gone (revokes leases). */
  release?(key: Key, signal: AbortSignal): Promise<void>;
}
