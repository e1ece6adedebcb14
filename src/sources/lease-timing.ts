import type { HeldSecret } from './lease-record.js';

/** A lease is renewed at about this fraction of what Vault granted (less up to a tenth, at random),
 *  so many leases issued together do not come back together. */
export const RENEW_FRACTION = 2 / 3;
export const RENEW_JITTER = 0.1;
/** Static credentials are read again this long after Vault's announced rotation. */
export const REREAD_AFTER_ROTATION_MS = 2_000;
/** Never look again sooner than this (a lease about to end, a tiny TTL). */
export const MIN_LOOK_MS = 1_000;

/** When to renew a lease Vault just granted for `grantedMs`. */
export function renewDelayMs(grantedMs: number, rand: () => number): number {
  return Math.max(MIN_LOOK_MS, Math.floor(grantedMs * RENEW_FRACTION * (1 - RENEW_JITTER * rand())));
}

/**
 * How long before the end new credentials are issued: the spec's renewBefore, else a third of the
 * lifetime; never more than half the lifetime, so a renewBefore longer than the TTL cannot make
 * every look issue again.
 */
export function effectiveRenewBeforeMs(requestedMs: number | undefined, lifetimeMs: number): number {
  const half = Math.floor(lifetimeMs / 2);
  return Math.max(0, Math.min(requestedMs ?? Math.floor(lifetimeMs / 3), half));
}

/** When the held secret is replaced by a new one. */
export function reissueAt(held: HeldSecret): number {
  if (held.rereadAfterExpiry === true) return held.expiresAt + REREAD_AFTER_ROTATION_MS;
  return (held.hardExpiresAt ?? held.expiresAt) - held.renewBeforeMs;
}

/** Whether a lease can still be extended by renewing it. */
export const renewsFurther = (held: HeldSecret): boolean =>
  held.leaseId !== '' && held.renewable && held.hardExpiresAt === undefined;

/**
 * Vault granted `grantedSeconds` when `askedMs` was asked: less (by more than a second) means the
 * lease reached its max TTL, and its end is now its hard limit.
 */
export function afterRenewal(held: HeldSecret, now: number, grantedSeconds: number, renewable: boolean): HeldSecret {
  const grantedMs = grantedSeconds * 1000;
  const expiresAt = now + grantedMs;
  const capped = !renewable || grantedMs < held.durationMs - 1000;
  return { ...held, expiresAt, renewable, ...(capped ? { hardExpiresAt: expiresAt } : {}) };
}
