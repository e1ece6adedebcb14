import { createHash } from 'node:crypto';
import type { VaultIdentity } from './types.js';

/**
 * Periodic refreshes are phase-aligned per read group — the SecretSyncs that read one
 * (identity, mount, path, version) with one interval all refresh at the same instants, so they
 * share one Vault read; and the groups' phases are spread uniformly over the interval by a hash,
 * so refreshes never line up into storms, not even after a restart (the phase does not depend on
 * when the controller started).
 *
 * After a sync outside the schedule (created, changed, pushed, retried), the next refresh is the
 * group's first slot more than MIN_GAP_FRACTION of the interval away: so a refresh comes at most
 * 1.1 intervals after such a sync, and exactly every interval after that.
 */
export const MIN_GAP_FRACTION = 0.1;

/** What makes reads shareable: never shared across identities. */
export function readGroupKey(
  identity: VaultIdentity,
  mount: string,
  path: string,
  version: number | undefined,
): string {
  const sa =
    identity.serviceAccount === 'controller'
      ? 'controller'
      : `${identity.serviceAccount.namespace}/${identity.serviceAccount.name}`;
  return JSON.stringify([
    identity.address,
    identity.vaultNamespace ?? '',
    identity.authMount,
    identity.role,
    sa,
    [...identity.audiences].sort(),
    mount,
    path,
    version ?? null,
  ]);
}

/** Where in [0, intervalMs) the group's refreshes fall. Not secret-bearing: identity and path only. */
export function phaseMs(groupKey: string, intervalMs: number): number {
  const h = createHash('sha256').update(groupKey).digest();
  return Number(h.readBigUInt64BE(0) % BigInt(Math.max(1, Math.floor(intervalMs))));
}

/** Delay from `nowMs` to the group's next refresh slot at least MIN_GAP_FRACTION·interval away. */
export function refreshDelayMs(nowMs: number, intervalMs: number, groupKey: string): number {
  const phase = phaseMs(groupKey, intervalMs);
  const earliest = nowMs + intervalMs * MIN_GAP_FRACTION;
  const cycles = Math.ceil((earliest - phase) / intervalMs);
  const next = phase + cycles * intervalMs;
  return next - nowMs;
}

/**
 * How old a shared (cached) read a periodic refresh accepts: the group's readers all come at one
 * instant, so a short window catches those delayed by the queue; bounded by the operator's cache TTL.
 */
export function readMaxAgeMs(intervalMs: number, cacheTtlMs: number): number {
  return Math.min(cacheTtlMs, intervalMs * MIN_GAP_FRACTION);
}
