import type { Condition, SecretSync, SecretSyncStatus } from '../api/index.js';
import type { SyncError } from '../errors.js';
import { describeVersions } from '../render/index.js';

export const READY = 'Ready';
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
  result: { secretName: string; versions: readonly number[]; wrote: boolean; notAfter?: number },
  now: number,
): SecretSyncStatus {
  const { sourceVersions: _dropped, certificateNotAfter: _gone, ...prev } = sync.status ?? {};
  const message = `Secret ${result.secretName} matches ${describeVersions(result.versions)}`;
  return {
    ...prev,
    conditions: withReady(sync, 'True', 'Synced', message, now),
    observedGeneration: sync.metadata.generation,
    secretName: result.secretName,
    vaultVersion: result.versions[0] ?? 0,
    ...(result.versions.length > 1 ? { sourceVersions: [...result.versions] } : {}),
    ...(result.notAfter === undefined ? {} : { certificateNotAfter: kubeTime(result.notAfter) }),
    lastSyncTime: result.wrote || prev.lastSyncTime === undefined ? kubeTime(now) : prev.lastSyncTime,
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
