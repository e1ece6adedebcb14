import { parseDuration, type SecretSync } from './api/index.js';

/**
 * When to first reconcile a SecretSync found by the initial list. One that is Ready for its
 * current generation was synced by an earlier run: its first refresh is spread uniformly over its
 * interval, so a restart neither re-reads everything at once nor lines all refreshes up. Anything
 * else (never synced, failing, or changed since) is reconciled at once.
 */
export function initialDelayMs(
  sync: SecretSync,
  refresh: { defaultMs: number; minMs: number },
  rand: () => number,
): number {
  const ready = sync.status?.conditions?.find((c) => c.type === 'Ready');
  const current = sync.status?.observedGeneration === sync.metadata.generation;
  if (ready?.status !== 'True' || !current) return 0;
  let interval = refresh.defaultMs;
  const spec = sync.spec.refresh.interval;
  if (spec !== undefined) {
    try {
      interval = parseDuration(spec);
    } catch {
      return 0; // reconcile reports the bad interval
    }
  }
  return Math.floor(rand() * Math.max(interval, refresh.minMs));
}
