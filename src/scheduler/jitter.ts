/** The most a periodic refresh is brought forward, as a fraction of its interval. */
export const REFRESH_JITTER_FRACTION = 0.1;

/**
 * The delay before the next periodic refresh: `intervalMs` minus a random 0–10 %.
 *
 * Many SecretSyncs created together (or all of them after a controller restart, when
 * every key is synced at start) would otherwise refresh in lockstep and hit Vault in
 * bursts. Subtracting, never adding, keeps the documented interval an upper bound on
 * staleness. `rand` returns a number in [0, 1) like Math.random; values outside are clamped.
 */
export function jitteredInterval(intervalMs: number, rand: () => number = Math.random): number {
  if (!Number.isFinite(intervalMs) || intervalMs < 0) {
    throw new RangeError(`refresh interval must be a finite, non-negative number of ms, got ${intervalMs}`);
  }
  const r = Math.min(1, Math.max(0, rand()));
  return intervalMs - intervalMs * REFRESH_JITTER_FRACTION * r;
}
