import type { Condition, RefreshPolicy, SecretSync, SecretSyncStatus } from '../api/index.js';
import type { SyncError } from '../errors.js';
import { describeVersions } from '../render/index.js';
import { policyOf } from './refresh-policy.js';
import { READY, VAULT_VERSION_ANNOTATION, type StoredSecret } from './types.js';

export { READY };
const MAX_MESSAGE = 32_768;

/** Kubernetes times have whole seconds; the API server would drop the milliseconds anyway. */
export const kubeTime = (ms: number): string => new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z');

/**
 * Status after a successful sync. observedGeneration, secretName and vaultVersion hold current values,
 * which change only when the spec or the Secret changes; lastSyncTime moves only when the Secret was
 * written (or on the first success), so a refresh that finds nothing new computes the same status and
 * writes nothing.
 */
export function successStatus(
  sync: SecretSync,
  result: {
    secretName: string;
    versions: readonly number[];
    wrote: boolean;
    notAfter?: number;
    forceSync?: string | undefined;
  },
  now: number,
): SecretSyncStatus {
  const { sourceVersions: _dropped, certificateNotAfter: _gone, ...prev } = sync.status ?? {};
  const message = syncedMessage(policyOf(sync), result.secretName, describeVersions(result.versions));
  return {
    ...prev,
    conditions: withReady(sync, 'True', 'Synced', message, now),
    observedGeneration: sync.metadata.generation,
    secretName: result.secretName,
    vaultVersion: result.versions[0] ?? 0,
    ...(result.versions.length > 1 ? { sourceVersions: [...result.versions] } : {}),
    ...(result.notAfter === undefined ? {} : { certificateNotAfter: kubeTime(result.notAfter) }),
    lastSyncTime: result.wrote || prev.lastSyncTime === undefined ? kubeTime(now) : prev.lastSyncTime,
    ...(result.forceSync === undefined ? {} : { lastForceSync: result.forceSync }),
  };
}

/**
 * What Ready says after a success, per refresh policy: it must not claim more than the policy does
 * (under OnChange the Secret holds what Vault had at the last read, which may no longer be current).
 * The message depends only on the policy, the Secret and the version, so it does not churn.
 */
export function syncedMessage(policy: RefreshPolicy, secretName: string, versions: string): string {
  switch (policy) {
    case 'Periodic':
      return `Secret ${secretName} matches ${versions}`;
    case 'OnChange':
      return `Secret ${secretName} holds ${versions} as last read; refresh.policy OnChange reads again on a spec change, a webhook push or a new vaultsync.io/force-sync value`;
    case 'CreatedOnce':
      return `Secret ${secretName} was written from ${versions}; refresh.policy CreatedOnce neither reads nor writes it again while it exists`;
  }
}

/**
 * Status when the policy left the Secret alone (no read, no write): Ready True at this generation,
 * the version the Secret carries; lastSyncTime does not move, since nothing was synced. A force-sync
 * value ignored under CreatedOnce is recorded as handled, so it is reported once.
 */
export function keptStatus(
  sync: SecretSync,
  kept: { secretName: string; secret: StoredSecret; forceSync?: string | undefined },
  now: number,
): SecretSyncStatus {
  const prev = sync.status ?? {};
  // What the kept Secret holds: its version annotation (one version per source), else the last status.
  const annotated = (kept.secret.metadata.annotations?.[VAULT_VERSION_ANNOTATION] ?? '').split(',').map(Number);
  const versions = annotated.every((v) => Number.isInteger(v) && v > 0)
    ? annotated
    : prev.vaultVersion === undefined
      ? []
      : (prev.sourceVersions ?? [prev.vaultVersion]);
  const message =
    versions.length === 0
      ? `Secret ${kept.secretName} is kept as it is (refresh.policy ${policyOf(sync)})`
      : syncedMessage(policyOf(sync), kept.secretName, describeVersions(versions));
  const { sourceVersions: _dropped, ...rest } = prev;
  return {
    ...rest,
    conditions: withReady(sync, 'True', 'Synced', message, now),
    observedGeneration: sync.metadata.generation,
    secretName: kept.secretName,
    ...(versions.length === 0 ? {} : { vaultVersion: versions[0] }),
    ...(versions.length > 1 ? { sourceVersions: versions } : {}),
    ...(kept.forceSync === undefined ? {} : { lastForceSync: kept.forceSync }),
  };
}

/** Status after a failed sync: Ready False with the error's reason; what the last success recorded stays. */
export function failureStatus(sync: SecretSync, err: SyncError, now: number): SecretSyncStatus {
  return {
    ...sync.status,
    conditions: withReady(sync, 'False', err.reason, err.message.slice(0, MAX_MESSAGE), now),
    observedGeneration: sync.metadata.generation,
  };
}

/** Replaces the Ready condition, keeping others; lastTransitionTime changes only when the status flips. */
function withReady(
  sync: SecretSync,
  status: Condition['status'],
  reason: string,
  message: string,
  now: number,
): Condition[] {
  const conditions = sync.status?.conditions ?? [];
  const prev = conditions.find((c) => c.type === READY);
  const ready: Condition = {
    type: READY,
    status,
    observedGeneration: sync.metadata.generation,
    lastTransitionTime: prev?.status === status ? prev.lastTransitionTime : kubeTime(now),
    reason,
    message,
  };
  return prev === undefined ? [...conditions, ready] : conditions.map((c) => (c === prev ? ready : c));
}

/** Deep equality as the API server would see it: key order and undefined fields do not matter. */
export function sameStatus(a: SecretSyncStatus | undefined, b: SecretSyncStatus | undefined): boolean {
  return canonicalJson(a ?? {}) === canonicalJson(b ?? {});
}

function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v !== null && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v).sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0)))
      : v,
  );
}
