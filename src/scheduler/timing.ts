import { createHash } from 'node:crypto';

/**
 * The one refresh-timing policy: startup spread, phase alignment and the shared-read window (retry
 * backoff is the work queue's, scheduler/backoff.ts). It knows groups only as opaque strings.
 *
 * Periodic refreshes are phase-aligned per read group — the SecretSyncs that read one
 * (identity, mount, path, version) with one interval all refresh at the same instants, so they
 * share one Vault read; and the groups' phases are spread uniformly over the interval by a hash,
 * so refreshes never line up into storms, not even after a restart (the phase does not depend on
 * when the controller started).
 *
 * After a sync outside the schedule (created, changed, pushed, retried), the next refresh is the
 * group's first slot more than MIN_GAP_FRACTION of the interval after the read it used: so a
 * refresh comes at most 1.1 intervals after such a read, and exactly every interval after that.
 */
export const MIN_GAP_FRACTION = 0.1;

/** Where in [0, intervalMs) the group's refreshes fall. Not secret-bearing: identity and path only. */
export function phaseMs(groupKey: string, intervalMs: number): number {
  const h = createHash('sha256').update(groupKey).digest();
  return Number(h.readBigUInt64BE(0) % BigInt(Math.max(1, Math.floor(intervalMs))));
}

/**
 * Delay from `nowMs` to the group's first refresh slot at least MIN_GAP_FRACTION·interval after
 * `readAtMs`, when the data just synced was read (default: now), and not before `notBeforeMs`.
 * Counting from the read, not from the end of the sync, gives every SecretSync that shared one read
 * the same next slot, however far apart they finished, and bounds the data's age at the next refresh
 * by 1.1 intervals. A slot that has already passed (a sync that shared an older read and finished
 * late) is due at once: at least 1 ms, so a refresh never runs again within the same clock tick.
 *
 * `notBeforeMs` is for the first refresh after a startup read (startupRefreshNotBefore): one
 * interval after the initial list was queued, so no group comes due again while an initial sync
 * shorter than the interval is still reading the others.
 */
export function refreshDelayMs(
  nowMs: number,
  intervalMs: number,
  groupKey: string,
  readAtMs = nowMs,
  notBeforeMs = -Infinity,
): number {
  const phase = phaseMs(groupKey, intervalMs);
  const earliest = Math.max(Math.min(nowMs, readAtMs) + intervalMs * MIN_GAP_FRACTION, notBeforeMs);
  const cycles = Math.ceil((earliest - phase) / intervalMs);
  const next = phase + cycles * intervalMs;
  return Math.max(1, next - nowMs);
}

/**
 * The earliest first refresh of a SecretSync read by the initial sync (never synced before, so due
 * at once): a full interval after the initial list was queued. With the usual 0.1-interval gap, a
 * group read early in an initial sync that lasts most of an interval has its slot come due before
 * the sync is over and is read twice; this way an initial sync shorter than the interval reads each
 * group once. The group stays on its phase (the slot is the first one from there), so the first
 * refresh comes at most two intervals after the initial sync began, and every interval after that.
 */
export function startupRefreshNotBefore(listedAtMs: number, intervalMs: number): number {
  return listedAtMs + intervalMs;
}

/**
 * How old a shared (cached) read a periodic refresh accepts: the group's readers all come at one
 * instant, so a short window catches those delayed by the queue; bounded by the operator's cache TTL.
 */
export function readMaxAgeMs(intervalMs: number, cacheTtlMs: number): number {
  return Math.min(cacheTtlMs, intervalMs * MIN_GAP_FRACTION);
}

/**
 * When to first look at an object found by the initial list. One that was synced by an earlier run
 * (Ready for its current generation) has its first refresh spread uniformly over its interval, so a
 * restart neither re-reads everything at once nor lines all refreshes up. Anything else is due now.
 */
export function startupDelayMs(syncedBefore: boolean, intervalMs: number, rand: () => number): number {
  return syncedBefore ? Math.floor(rand() * intervalMs) : 0;
}
