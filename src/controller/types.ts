import type { RolloutRestartTarget, SecretSync, SecretSyncStatus } from '../api/index.js';
import type { Reason } from '../errors.js';
import type { Key } from '../core/types.js';

/** Narrow interfaces that reconcile() depends on. Unit tests hand it fakes; main.ts the real thing. */

export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
  blockOwnerDeletion?: boolean;
}

export interface SecretObject {
  metadata: {
    name: string;
    namespace: string;
    uid?: string;
    resourceVersion?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    ownerReferences?: OwnerReference[];
    deletionTimestamp?: string;
  };
  type: string;
  /** base64 values, as the API server holds them. */
  data: Record<string, string>;
  immutable?: boolean;
}

/**
 * A Secret as the controller keeps and compares it: metadata and a keyed digest of its data, never
 * the data itself. Anyone with Secret rights can label a Secret as ours, so the cache must not grow
 * with the data of Secrets it holds; and drift (a hand edit) shows in the digest all the same.
 */
export interface StoredSecret {
  metadata: SecretObject['metadata'];
  type: string;
  /** SecretStore.digestData of the data as the API server holds it. */
  dataDigest: string;
  immutable?: boolean;
}

export interface SecretStore {
  /** A managed Secret from the informer cache (only labelled Secrets are cached). */
  getCached(namespace: string, name: string): StoredSecret | undefined;
  /** A live read, for what the cache cannot know (a Secret vaultsync does not manage). */
  get(namespace: string, name: string, signal?: AbortSignal): Promise<StoredSecret | undefined>;
  /** Throws SyncError('KubernetesApiError', …, { status }) — status 409 when the name is taken. */
  create(secret: SecretObject, signal?: AbortSignal): Promise<StoredSecret>;
  /** Replaces with optimistic concurrency on metadata.resourceVersion (409 on conflict). */
  update(secret: SecretObject, signal?: AbortSignal): Promise<StoredSecret>;
  /** Deletes only if the uid still matches; a missing Secret is not an error. */
  delete(namespace: string, name: string, uid: string, signal?: AbortSignal): Promise<void>;
  /** The keyed digest StoredSecret.dataDigest holds, for data about to be written. */
  digestData(data: Record<string, string>): string;
}

/** The condition type of a SecretSync's readiness. */
export const READY = 'Ready';

/** Labels and annotations vaultsync puts on the Secrets it writes. */
export const MANAGED_BY_LABEL = 'app.kubernetes.io/managed-by';
export const MANAGED_BY_VALUE = 'vaultsync';
/** `namespace/name` of the SecretSync that owns a Secret; the SecretStore indexes Secrets by it. */
export const OWNER_ANNOTATION = 'vaultsync.io/secretsync';
/** Keyed HMAC of the rendered content (never a plain hash of secret data). */
export const HASH_ANNOTATION = 'vaultsync.io/content-hmac';
/** Delete or Retain, copied from the spec so cleanup works after the SecretSync is gone. */
export const DELETION_POLICY_ANNOTATION = 'vaultsync.io/deletion-policy';
export const VAULT_VERSION_ANNOTATION = 'vaultsync.io/vault-version';

/** The uid of the SecretSync that wrote a Secret: a Secret changing triggers its owner only if it
 *  is in the owner's namespace and carries the owner's current uid. */
export const OWNER_UID_ANNOTATION = 'vaultsync.io/secretsync-uid';

export interface ManagedSecretIndex {
  /** Managed Secrets (from the cache) whose OWNER_ANNOTATION is `key`. */
  listByOwner(key: Key): StoredSecret[];
}

export interface SecretSyncLister {
  /** The current SecretSync from the informer cache, or undefined if it is gone. */
  get(key: Key): SecretSync | undefined;
}

export interface StatusWriter {
  /** Writes status (merge patch on the status subresource). Callers skip it when nothing changed.
   *  `background`: behind Secret writes in the write budget (the status lane's writes). */
  patchStatus(
    sync: SecretSync,
    status: SecretSyncStatus,
    signal?: AbortSignal,
    options?: { background?: boolean },
  ): Promise<void>;
}

export type EventType = 'Normal' | 'Warning';

export interface EventRecorder {
  /** Records a Kubernetes Event on the SecretSync. Never throws; repeated events are aggregated. */
  record(sync: SecretSync, type: EventType, reason: string, message: string): void;
}

export type SyncOutcome = 'Synced' | 'Unchanged' | Reason;

export interface SyncMetrics {
  observeSync(outcome: SyncOutcome, durationSeconds: number): void;
  /** Freshness without status churn: last time this SecretSync matched Vault. */
  markFresh(key: Key, unixSeconds: number): void;
  forget(key: Key): void;
}

/** A workload named by spec.rolloutRestartTargets, in the SecretSync's namespace. */
export interface WorkloadRef {
  namespace: string;
  kind: RolloutRestartTarget['kind'];
  name: string;
}

export interface WorkloadPatcher {
  /**
   * Merge-patches annotations into the workload's pod template (spec.template.metadata.annotations),
   * which makes its controller roll the pods. 'missing' when the workload does not exist; throws
   * SyncError('KubernetesApiError', …, { status }) on any other failure.
   */
  patchTemplateAnnotations(
    ref: WorkloadRef,
    annotations: Record<string, string>,
    signal?: AbortSignal,
  ): Promise<'patched' | 'missing'>;
}
