import { asRecord } from '../core/json.js';
import { SyncError } from '../errors.js';
import type { LeasedSecret, LeaseCallContext, LeaseRenewal, VaultIdentity, VaultLeases } from './types.js';
import { badData, vaultDependency, vaultErrorText } from './classify.js';
import type { VaultHttpRequest, VaultHttpResponse } from './connection.js';
import { encodeSegments } from './kv.js';
import type { VaultOperation } from './metrics.js';

/**
 * Requests that mint or hold leases: database credentials, certificates, and sys/leases renew,
 * revoke and lookup. Lease ids go into URLs (`sys/leases/renew/<id>`), so that a tenant's Vault
 * policy can allow renewing and revoking its own leases by prefix and no others (docs/dynamic-secrets.md).
 * Nothing here ever quotes a lease id, a credential or a private key in a message.
 */

/** A lease id as a URL path: every segment encoded; `..` and empty segments refused (a hostile Vault). */
export function leasePath(op: 'renew' | 'revoke', leaseId: string): string {
  if (leaseId.length === 0 || leaseId.length > 1024) {
    throw new SyncError('BadVaultData', 'Vault returned a lease id vaultsync cannot use');
  }
  let encoded: string;
  try {
    encoded = encodeSegments('lease id', leaseId);
  } catch {
    throw new SyncError('BadVaultData', 'Vault returned a lease id vaultsync cannot use');
  }
  return `sys/leases/${op}/${encoded}`;
}

const isTransient = (status: number): boolean => status >= 500 || status === 429 || status === 412;

function detail(res: VaultHttpResponse, credentials: readonly string[]): string {
  const text = vaultErrorText(res.body, credentials);
  return text === '' ? `HTTP ${res.status}` : `HTTP ${res.status}: ${text}`;
}

/**
 * A failed request of a dynamic source. `what` names the operation ("issue of database/creds/app");
 * `hint` says what to check when Vault refuses for good.
 */
export function leaseFailure(
  res: VaultHttpResponse,
  identity: VaultIdentity,
  what: string,
  hint: string,
  credentials: readonly string[],
): SyncError {
  const { status } = res;
  const why = detail(res, credentials);
  if (status === 403) {
    return new SyncError(
      'VaultForbidden',
      `Vault denied ${what} for role ${identity.role} (${why}): check the role's policy (docs/dynamic-secrets.md)`,
      { status },
    );
  }
  if (isTransient(status)) {
    return new SyncError(
      'VaultUnavailable',
      `Vault at ${identity.address} could not serve ${what} (${why}); will retry`,
      { status, dependency: vaultDependency(identity) },
    );
  }
  return new SyncError('VaultPathNotFound', `Vault refused ${what} (${why}): ${hint}`, { status });
}

const nonNegative = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && v >= 0;

/** A secret that comes with a lease (database creds) or without one (PKI, static creds). */
export function interpretLeased(
  res: VaultHttpResponse,
  identity: VaultIdentity,
  what: string,
  hint: string,
  credentials: readonly string[],
): LeasedSecret {
  if (res.status !== 200) throw leaseFailure(res, identity, what, hint, credentials);
  const body = asRecord(res.body);
  if (body === undefined) throw badData(what, 'the body is not a JSON object', res.status);
  const data = asRecord(body.data);
  if (data === undefined) throw badData(what, 'no data object', res.status);
  const { lease_id: leaseId, lease_duration: duration, renewable } = body;
  if (leaseId !== undefined && leaseId !== null && typeof leaseId !== 'string') {
    throw badData(what, 'lease_id is not a string', res.status);
  }
  if (duration !== undefined && !nonNegative(duration)) throw badData(what, 'no valid lease_duration', res.status);
  return {
    leaseId: typeof leaseId === 'string' ? leaseId : '',
    leaseDurationSeconds: duration ?? 0,
    renewable: renewable === true,
    data,
  };
}

/**
 * Vault's answer to a renewal. A lease Vault no longer holds (revoked, expired) is `gone`, not an
 * error: the caller issues new credentials.
 */
export function interpretRenewal(
  res: VaultHttpResponse,
  identity: VaultIdentity,
  what: string,
  credentials: readonly string[],
): LeaseRenewal | 'gone' {
  if (res.status === 400 || res.status === 404) return 'gone';
  if (res.status !== 200) throw leaseFailure(res, identity, what, 'check the lease', credentials);
  const body = asRecord(res.body);
  if (body === undefined || !nonNegative(body.lease_duration)) {
    throw badData(what, 'no valid lease_duration', res.status);
  }
  return { leaseDurationSeconds: body.lease_duration, renewable: body.renewable === true };
}

/** Revocation succeeded, or the lease was already gone (revoking is idempotent in Vault). */
export function interpretRevocation(
  res: VaultHttpResponse,
  identity: VaultIdentity,
  what: string,
  credentials: readonly string[],
): void {
  if (res.status === 200 || res.status === 204) return;
  throw leaseFailure(res, identity, what, 'check that the policy allows revoking the lease', credentials);
}

/** sys/leases/lookup: the lease's TTL, or undefined when Vault no longer holds it. */
export function interpretLookup(
  res: VaultHttpResponse,
  identity: VaultIdentity,
  what: string,
  credentials: readonly string[],
): { ttlSeconds: number; renewable: boolean } | undefined {
  if (res.status === 400 || res.status === 404) return undefined;
  if (res.status !== 200) throw leaseFailure(res, identity, what, 'check the lease', credentials);
  const data = asRecord(asRecord(res.body)?.data);
  if (data === undefined || !nonNegative(data.ttl)) throw badData(what, 'no valid data.ttl', res.status);
  return { ttlSeconds: data.ttl, renewable: data.renewable === true };
}

/** `<mount>/<segment>/<name>`, each part encoded. */
export function enginePath(mount: string, segment: string, name: string): string {
  return `${encodeSegments('mount', mount)}/${segment}/${encodeSegments('role', name)}`;
}

/** One authenticated exchange (AuthenticatedReader.call with the identity's token). */
export type LeaseCall = <T>(
  identity: VaultIdentity,
  operation: VaultOperation,
  request: Omit<VaultHttpRequest, 'token'>,
  what: string,
  interpret: (res: VaultHttpResponse, credentials: readonly string[]) => T,
  options: { priority?: number; tenant?: string; signal: AbortSignal },
) => Promise<T>;

/** The VaultLeases of the dynamic sources over one authenticated exchange. */
export function createVaultLeases(call: LeaseCall): VaultLeases {
  const opts = (ctx: LeaseCallContext, signal: AbortSignal) => ({ priority: ctx.priority, tenant: ctx.tenant, signal });
  const onLease = async <T>(
    ctx: LeaseCallContext & { leaseId: string },
    operation: 'renew' | 'revoke' | 'lookup',
    body: Record<string, unknown>,
    interpret: (res: VaultHttpResponse, identity: VaultIdentity, what: string, credentials: readonly string[]) => T,
    signal: AbortSignal,
  ): Promise<T> => {
    const what = `${operation} of a lease`;
    const path = operation === 'lookup' ? 'sys/leases/lookup' : leasePath(operation, ctx.leaseId);
    return await call(
      ctx.identity,
      operation,
      { method: 'POST', path, body },
      what,
      (res, credentials) => interpret(res, ctx.identity, what, [...credentials, ctx.leaseId]),
      opts(ctx, signal),
    );
  };
  return {
    issue(req, signal) {
      const what = `issue of ${req.what}`;
      const request = { method: req.method, path: req.path, ...(req.body === undefined ? {} : { body: req.body }) };
      return call(
        req.identity,
        'issue',
        request,
        what,
        (res, credentials) => interpretLeased(res, req.identity, what, req.hint, credentials),
        opts(req, signal),
      );
    },
    renew: (req, signal) =>
      onLease(
        req,
        'renew',
        req.incrementSeconds === undefined ? {} : { increment: req.incrementSeconds },
        interpretRenewal,
        signal,
      ),
    revoke: (req, signal) => onLease(req, 'revoke', {}, interpretRevocation, signal),
    lookup: (req, signal) => onLease(req, 'lookup', { lease_id: req.leaseId }, interpretLookup, signal),
  };
}
