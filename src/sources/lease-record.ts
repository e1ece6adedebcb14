import { asRecord } from '../core/json.js';
import type { Key } from '../core/types.js';
import type { VaultIdentity } from '../vault/types.js';

/**
 * What the dynamic sources hold for one SecretSync, kept durably so that a restarted controller (or
 * a new leader) finds its leases again instead of issuing new credentials, and revokes what a
 * SecretSync deleted meanwhile held (docs/dynamic-secrets.md). It holds the values written to the
 * Secret (the managed-Secret cache keeps none, and a template may have reshaped them), so it lives
 * where tenants cannot read it (a Secret in the controller's namespace) and never in status,
 * events, logs or metrics.
 */
export interface LeaseRecord {
  key: Key;
  /** The SecretSync's uid: a SecretSync deleted and created again under the same name owns nothing of the old one. */
  uid: string;
  /** By slot: the index of the source item in the spec. */
  slots: Record<string, HeldSecret>;
  /** Leases replaced (re-issued, or their source changed), revoked after the grace period. */
  retiring: RetiringLease[];
}

export interface HeldSecret {
  /** What was asked (identity, kind, mount, role, parameters): a change issues new credentials. */
  fingerprint: string;
  identity: VaultIdentity;
  /** '' when there is nothing to renew or revoke (certificates, static credentials). */
  leaseId: string;
  renewable: boolean;
  /** The values given to rendering (strings: credentials, PEM). */
  data: Record<string, string>;
  /** Counts issues for this slot; reported as the source's version. */
  generation: number;
  issuedAt: number;
  /** The lease duration granted at issue (the increment asked at each renewal), ms. */
  durationMs: number;
  /** End of the lease (or certificate) as last known, ms since the epoch. */
  expiresAt: number;
  /** When it can live no longer (the max TTL reached at a renewal; a certificate's notAfter). */
  hardExpiresAt?: number;
  /** Re-issue this long before hardExpiresAt (or expiresAt). */
  renewBeforeMs: number;
  /** Static credentials: read again after expiresAt (the rotation), nothing to revoke. */
  rereadAfterExpiry?: boolean;
}

export interface RetiringLease {
  leaseId: string;
  identity: VaultIdentity;
  tenant: string;
  revokeAt: number;
  /** After this Vault has revoked it by itself: the record can forget it even if revoking fails. */
  expiresAt: number;
}

/** Where records are kept (kube/lease-records.ts: Secrets in the controller's namespace). */
export interface LeaseRecordStore {
  /** Every record; called once per process before the first use. */
  list(signal: AbortSignal): Promise<LeaseRecord[]>;
  /** Creates or replaces the record of `record.key`. */
  put(record: LeaseRecord, signal: AbortSignal): Promise<void>;
  /** A missing record is not an error. */
  delete(key: Key, signal: AbortSignal): Promise<void>;
}

const isString = (v: unknown): v is string => typeof v === 'string';
const isNumber = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

function parseIdentity(v: unknown): VaultIdentity | undefined {
  const r = asRecord(v);
  if (r === undefined || !isString(r.address) || !isString(r.authMount) || !isString(r.role)) return undefined;
  const sa = r.serviceAccount;
  const saRecord = asRecord(sa);
  const serviceAccount =
    sa === 'controller'
      ? ('controller' as const)
      : saRecord !== undefined && isString(saRecord.namespace) && isString(saRecord.name)
        ? { namespace: saRecord.namespace, name: saRecord.name }
        : undefined;
  if (serviceAccount === undefined || !Array.isArray(r.audiences) || !r.audiences.every(isString)) return undefined;
  return {
    address: r.address,
    ...(isString(r.vaultNamespace) ? { vaultNamespace: r.vaultNamespace } : {}),
    ...(isString(r.caBundle) ? { caBundle: r.caBundle } : {}),
    authMount: r.authMount,
    role: r.role,
    serviceAccount,
    audiences: r.audiences,
  };
}

function parseHeld(v: unknown): HeldSecret | undefined {
  const r = asRecord(v);
  if (r === undefined) return undefined;
  const identity = parseIdentity(r.identity);
  const data = asRecord(r.data);
  if (
    identity === undefined ||
    data === undefined ||
    !Object.values(data).every(isString) ||
    !isString(r.fingerprint) ||
    !isString(r.leaseId) ||
    !isNumber(r.generation) ||
    !isNumber(r.issuedAt) ||
    !isNumber(r.durationMs) ||
    !isNumber(r.expiresAt) ||
    !isNumber(r.renewBeforeMs)
  ) {
    return undefined;
  }
  return {
    fingerprint: r.fingerprint,
    identity,
    leaseId: r.leaseId,
    renewable: r.renewable === true,
    data: data as Record<string, string>,
    generation: r.generation,
    issuedAt: r.issuedAt,
    durationMs: r.durationMs,
    expiresAt: r.expiresAt,
    ...(isNumber(r.hardExpiresAt) ? { hardExpiresAt: r.hardExpiresAt } : {}),
    renewBeforeMs: r.renewBeforeMs,
    ...(r.rereadAfterExpiry === true ? { rereadAfterExpiry: true } : {}),
  };
}

function parseRetiring(v: unknown): RetiringLease | undefined {
  const r = asRecord(v);
  const identity = parseIdentity(r?.identity);
  if (r === undefined || identity === undefined || !isString(r.leaseId) || !isString(r.tenant)) return undefined;
  if (!isNumber(r.revokeAt) || !isNumber(r.expiresAt)) return undefined;
  return { leaseId: r.leaseId, identity, tenant: r.tenant, revokeAt: r.revokeAt, expiresAt: r.expiresAt };
}

/** A record from its JSON, or undefined when it is not one (a hand edit): the caller reports it. */
export function parseLeaseRecord(json: string): LeaseRecord | undefined {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    return undefined;
  }
  const r = asRecord(value);
  const slotsIn = asRecord(r?.slots);
  if (r === undefined || slotsIn === undefined || !isString(r.key) || !isString(r.uid) || !Array.isArray(r.retiring)) {
    return undefined;
  }
  const slots: Record<string, HeldSecret> = {};
  for (const [slot, held] of Object.entries(slotsIn)) {
    const parsed = parseHeld(held);
    if (parsed === undefined) return undefined;
    slots[slot] = parsed;
  }
  const retiring = r.retiring.map(parseRetiring);
  if (retiring.some((x) => x === undefined)) return undefined;
  return { key: r.key, uid: r.uid, slots, retiring: retiring as RetiringLease[] };
}
