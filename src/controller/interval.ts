import { parseDuration, type SecretSync } from '../api/index.js';
import { SyncError } from '../errors.js';
import { startupDelayMs } from '../scheduler/index.js';

export interface RefreshSettings {
  /** Interval of a SecretSync that names none. */
  defaultMs: number;
  /** The operator's floor under every interval. */
  minMs: number;
}

/** A SecretSync's refresh interval: its spec's or the default, never below the operator's minimum. */
export function refreshIntervalMs(sync: SecretSync, refresh: RefreshSettings): number {
  const text = sync.spec.refresh.interval;
  if (text === undefined) return Math.max(refresh.defaultMs, refresh.minMs);
  try {
    return Math.max(parseDuration(text), refresh.minMs);
  } catch (err) {
    // The CRD admits only durations; this is a SecretSync that bypassed or predates that rule.
    throw new SyncError(
      'InvalidSpec',
      `spec.refresh.interval ${JSON.stringify(text)} is not a duration such as 30s, 15m or 1h`,
      { cause: err },
    );
  }
}

/**
 * When to first reconcile a SecretSync found by the initial list: one Ready for its current
 * generation was synced by an earlier run and is spread over its interval; anything else (never
 * synced, failing, changed since, or with an interval reconcile will report) is due now.
 */
export function initialDelayMs(sync: SecretSync, refresh: RefreshSettings, rand: () => number): number {
  const ready = sync.status?.conditions?.find((c) => c.type === 'Ready');
  const current = sync.status?.observedGeneration === sync.metadata.generation;
  if (ready?.status !== 'True' || !current) return 0;
  let intervalMs: number;
  try {
    intervalMs = refreshIntervalMs(sync, refresh);
  } catch {
    return 0; // reconcile reports the bad interval
  }
  return startupDelayMs(true, intervalMs, rand);
}
