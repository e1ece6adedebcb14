import type { SecretSync, SecretSyncStatus } from '../api/index.js';
import type { Reason } from '../errors.js';

/** Narrow interfaces that reconcile() depends on. Unit tests hand it fakes; main.ts the real thing. */

/** `namespace/name` of a SecretSync. */
export type Key = string;

export const keyOf = (o: { metadata: { namespace: string; name: string } }): Key =>
  `${o.metadata.namespace}/${o.metadata.name}`;

export function splitKey(key: Key): { namespace: string; name: string } {
  const i = key.indexOf('/');
  return { namespace: key.slice(0, i), name: key.slice(i + 1) };
}

/** Who logs into Vault. Tokens are cached per identity; reads are shared only within one. */
export interface VaultIdentity {
  address: string;
  /** Vault Enterprise namespace (X-Vault-Namespace). */
  vaultNamespace?: string;
  /** PEM CA bundle for Vault's TLS; part of the identity because it selects the connection. */
  caBundle?: string;
  authMount: string;
  role: string;
  /** The ServiceAccount whose token is presented; `controller` is the controller's own projected token. */
  serviceAccount: { namespace: string; name: string } | 'controller';
  audiences: readonly string[];
}

export interface KvReadRequest {
  identity: VaultIdentity;
  mount: string;
  path: string;
  /** Pinned KV v2 version; absent reads the latest. */
  version?: number;
  /** Push refresh: skip the short-lived read cache (in-flight reads are still joined). */
  fresh?: boolean;
  /** Accept a shared (cached) result at most this old; absent: the reader's cache TTL. */
  maxAgeMs?: number;
  /** Rate-limit queue priority, higher first (push and new SecretSyncs ahead of periodic refreshes). Default 0. */
  priority?: number;
}

export interface KvSecret {
  data: Record<string, unknown>;
  version: number;
  createdTime?: string;
}

export interface VaultReader {
  /** Throws SyncError with a Vault* or BadVaultData reason. */
  readKv(req: KvReadRequest, signal?: AbortSignal): Promise<KvSecret>;
}

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

export interface SecretStore {
  /** A managed Secret from the informer cache (only labelled Secrets are cached). */
  getCached(namespace: string, name: string): SecretObject | undefined;
  /** A live read, for what the cache cannot know (a Secret vaultsync does not manage). */
  get(namespace: string, name: string, signal?: AbortSignal): Promise<SecretObject | undefined>;
  /** Throws SyncError('KubernetesApiError', …, { status }) — status 409 when the name is taken. */
  create(secret: SecretObject, signal?: AbortSignal): Promise<SecretObject>;
  /** Replaces with optimistic concurrency on metadata.resourceVersion (409 on conflict). */
  update(secret: SecretObject, signal?: AbortSignal): Promise<SecretObject>;
  /** Deletes only if the uid still matches; a missing Secret is not an error. */
  delete(namespace: string, name: string, uid: string, signal?: AbortSignal): Promise<void>;
}

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

export interface ManagedSecretIndex {
  /** Managed Secrets (from the cache) whose OWNER_ANNOTATION is `key`. */
  listByOwner(key: Key): SecretObject[];
}

/** Short-lived ServiceAccount tokens (TokenRequest) for Kubernetes-auth logins. */
export interface ServiceAccountTokenSource {
  /** Throws SyncError('ServiceAccountTokenFailed', …) when the API server refuses. */
  request(
    sa: { namespace: string; name: string },
    audiences: readonly string[],
    signal?: AbortSignal,
  ): Promise<{ token: string; expiresAt: number }>;
}

export interface SecretSyncLister {
  /** The current SecretSync from the informer cache, or undefined if it is gone. */
  get(key: Key): SecretSync | undefined;
}

export interface StatusWriter {
  /** Writes status (merge patch on the status subresource). Callers skip it when nothing changed. */
  patchStatus(sync: SecretSync, status: SecretSyncStatus, signal?: AbortSignal): Promise<void>;
}

export type EventType = 'Normal' | 'Warning';

export interface EventRecorder {
  /** Records a Kubernetes Event on the SecretSync. Never throws; repeated events are aggregated. */
  record(sync: SecretSync, type: EventType, reason: string, message: string): void;
}

export interface Clock {
  now(): number;
}

export interface Logger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
  child(bindings: Record<string, unknown>): Logger;
}

export type SyncOutcome = 'Synced' | 'Unchanged' | Reason;

export interface SyncMetrics {
  observeSync(outcome: SyncOutcome, durationSeconds: number): void;
  /** Freshness without status churn: last time this SecretSync matched Vault. */
  markFresh(key: Key, unixSeconds: number): void;
  forget(key: Key): void;
}
