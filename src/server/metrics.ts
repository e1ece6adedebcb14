/**
 * Prometheus metrics (prom-client), behind the narrow interfaces the other folders report to.
 * Names and help texts live here only; docs/metrics.md is generated from this registry.
 *
 * No series names a SecretSync unless `perSecretSync` (--metrics-per-secretsync) is set: /metrics
 * is read by whoever monitors the controller, who need not learn every tenant's SecretSyncs.
 * prom-client's process and Node.js metrics keep their standard names (`process_*`, `nodejs_*`), so
 * the dashboards and alerts written for any Node.js service work as they are.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { BuildInfo } from '../build-info.js';
import { splitKey, type Clock, type Key } from '../core/types.js';
import { type SyncMetrics, type SyncOutcome } from '../controller/types.js';
import type { VaultCache, VaultMetrics, VaultOperation, LoginResult } from '../vault/metrics.js';

export interface QueueMetrics {
  dequeued(priority: string, waitedMs: number): void;
}

export interface ReadyCounter {
  /** Number of managed SecretSyncs by Ready condition status (True, False, Unknown). */
  countByReady(): Record<string, number>;
  /** Each managed SecretSync's Ready status (True, False, Unknown); read only with perSecretSync. */
  readyByKey?(): Iterable<readonly [Key, string]>;
  /** Queue depth by priority. */
  queueDepth(): Record<string, number>;
  /** Whether this replica runs the queue (always, without leader election). */
  isLeader?(): boolean;
}

/** What became of one webhook request; `unavailable`: keys are configured but none could be read. */
export type WebhookOutcome =
  | 'accepted'
  | 'unauthorized'
  | 'forbidden'
  | 'too_large'
  | 'bad_request'
  | 'rate_limited'
  | 'disabled'
  | 'unavailable'
  /** A standby relayed the leader's answer (the leader counts the outcome). */
  | 'forwarded'
  /** A standby found no leader within the handover wait and queued the refresh for its takeover. */
  | 'deferred';

export const WEBHOOK_OUTCOMES: readonly WebhookOutcome[] = [
  'accepted',
  'unauthorized',
  'forbidden',
  'too_large',
  'bad_request',
  'rate_limited',
  'disabled',
  'unavailable',
  'forwarded',
  'deferred',
];

export interface WebhookMetrics {
  webhookRequest(outcome: WebhookOutcome): void;
  /** SecretSyncs the webhook queued (coalesced repeats not counted). */
  webhookQueued(count: number): void;
}

export type Metrics = SyncMetrics & VaultMetrics & QueueMetrics & WebhookMetrics & { registry: Registry };

export interface MetricsOptions {
  /** prom-client's process and Node.js metrics; default true. */
  defaultMetrics?: boolean;
  /** Series per SecretSync (namespace and name labels); default false. */
  perSecretSync?: boolean;
  /** For the age of the oldest success; default the system clock. */
  clock?: Clock;
  /** The labels of vaultsync_build_info; default `unknown` for each. */
  build?: BuildInfo;
}

export function createMetrics(source: ReadyCounter | undefined, opts: MetricsOptions = {}): Metrics {
  const clock = opts.clock ?? { now: () => Date.now() };
  const registry = new Registry();
  if (opts.defaultMetrics ?? true) collectDefaultMetrics({ register: registry });
  const registers = [registry];

  const build = opts.build ?? { version: 'unknown', revision: 'unknown', nodeVersion: 'unknown' };
  new Gauge({
    name: 'vaultsync_build_info',
    help: "Always 1; its labels say which build runs: the vaultsync version, the Git revision the image was built from ('unknown' when the build recorded none) and the Node.js version.",
    labelNames: ['version', 'revision', 'node_version'],
    registers,
  }).set({ version: build.version, revision: build.revision, node_version: build.nodeVersion }, 1);

  const syncs = new Counter({
    name: 'vaultsync_syncs_total',
    help: 'Reconciles of SecretSyncs by outcome: Synced (Secret written), Unchanged, or the failure reason.',
    labelNames: ['outcome'],
    registers,
  });
  const syncDuration = new Histogram({
    name: 'vaultsync_sync_duration_seconds',
    help: 'Duration of one reconcile, including Vault and API-server calls.',
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers,
  });
  // Last success per SecretSync, kept for the aggregate whether or not it is exported per object.
  const successes = new Map<Key, number>();
  const lastSuccess = opts.perSecretSync
    ? new Gauge({
        name: 'vaultsync_secretsync_last_success_timestamp_seconds',
        help: 'Unix time at which the SecretSync last matched Vault (freshness without status writes). Only with --metrics-per-secretsync.',
        labelNames: ['namespace', 'name'],
        registers,
      })
    : undefined;
  if (opts.perSecretSync) {
    new Gauge({
      name: 'vaultsync_secretsync_ready',
      help: "Whether the SecretSync's Ready condition is True (1) or not (0: False, or Unknown before its first reconcile), from the cache; a deleted SecretSync's series goes with it. Only with --metrics-per-secretsync.",
      labelNames: ['namespace', 'name'],
      registers,
      collect() {
        // Rebuilt from the cache at each scrape: a SecretSync deleted since the last one leaves no series.
        this.reset();
        if (!source?.readyByKey) return;
        for (const [key, ready] of source.readyByKey()) this.set(splitKey(key), ready === 'True' ? 1 : 0);
      },
    });
  }
  new Gauge({
    name: 'vaultsync_secretsync_oldest_success_age_seconds',
    help: 'Seconds since the least recently synced SecretSync last matched Vault; 0 when none has synced on this replica (a standby). Names no SecretSync.',
    registers,
    collect() {
      let oldest = Infinity;
      for (const at of successes.values()) oldest = Math.min(oldest, at);
      this.set(oldest === Infinity ? 0 : Math.max(0, Math.floor(clock.now() / 1000) - oldest));
    },
  });
  const vaultRequests = new Counter({
    name: 'vaultsync_vault_requests_total',
    help: "Vault HTTP requests by operation and status code ('error' when no response came).",
    labelNames: ['operation', 'code'],
    registers,
  });
  const vaultDuration = new Histogram({
    name: 'vaultsync_vault_request_duration_seconds',
    help: 'Duration of Vault HTTP requests by operation.',
    labelNames: ['operation'],
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10],
    registers,
  });
  const logins = new Counter({
    name: 'vaultsync_vault_logins_total',
    help: 'Vault Kubernetes-auth logins by result.',
    labelNames: ['result'],
    registers,
  });
  const cache = new Counter({
    name: 'vaultsync_cache_requests_total',
    help: 'Token and KV-read cache lookups by cache and result (hit, miss).',
    labelNames: ['cache', 'result'],
    registers,
  });
  const queueWait = new Histogram({
    name: 'vaultsync_queue_wait_seconds',
    help: 'Time a key waited in the work queue before a worker took it, by priority.',
    labelNames: ['priority'],
    buckets: [0.001, 0.01, 0.05, 0.1, 0.5, 1, 2, 5, 10, 30, 60, 300],
    registers,
  });
  new Gauge({
    name: 'vaultsync_queue_depth',
    help: 'Keys waiting in the work queue, by priority.',
    labelNames: ['priority'],
    registers,
    collect() {
      if (!source) return;
      for (const [p, n] of Object.entries(source.queueDepth())) this.set({ priority: p }, n);
    },
  });
  new Gauge({
    name: 'vaultsync_leader',
    help: 'Whether this replica holds the leader Lease and writes (1), or is a standby (0).',
    registers,
    collect() {
      if (source?.isLeader) this.set(source.isLeader() ? 1 : 0);
    },
  });
  new Gauge({
    name: 'vaultsync_secretsyncs',
    help: 'Managed SecretSyncs by the status of their Ready condition.',
    labelNames: ['ready'],
    registers,
    collect() {
      if (!source) return;
      this.reset();
      for (const [ready, n] of Object.entries(source.countByReady())) this.set({ ready }, n);
    },
  });
  const webhookRequests = new Counter({
    name: 'vaultsync_webhook_requests_total',
    help: "Requests to the refresh webhook by outcome (accepted, unauthorized, forbidden, too_large, bad_request, rate_limited, disabled, unavailable; on a standby forwarded — the leader's answer relayed, counted by the leader too — and deferred — no leader within the handover wait, queued for the takeover).",
    labelNames: ['outcome'],
    registers,
  });
  // Every outcome from the start, so rate() and alerts see a 0 before the first request.
  for (const outcome of WEBHOOK_OUTCOMES) webhookRequests.inc({ outcome }, 0);
  const webhookQueued = new Counter({
    name: 'vaultsync_webhook_queued_total',
    help: 'SecretSyncs queued by the refresh webhook (repeats coalesced while still queued are not counted).',
    registers,
  });

  return {
    registry,
    observeSync(outcome: SyncOutcome, seconds: number) {
      syncs.inc({ outcome });
      syncDuration.observe(seconds);
    },
    markFresh(key: Key, unixSeconds: number) {
      successes.set(key, unixSeconds);
      lastSuccess?.set(splitKey(key), unixSeconds);
    },
    forget(key: Key) {
      successes.delete(key);
      lastSuccess?.remove(splitKey(key));
    },
    request(operation: VaultOperation, status: number | 'error', seconds: number) {
      vaultRequests.inc({ operation, code: String(status) });
      vaultDuration.observe({ operation }, seconds);
    },
    cacheHit(c: VaultCache) {
      cache.inc({ cache: c, result: 'hit' });
    },
    cacheMiss(c: VaultCache) {
      cache.inc({ cache: c, result: 'miss' });
    },
    login(result: LoginResult) {
      logins.inc({ result });
    },
    dequeued(priority: string, waitedMs: number) {
      queueWait.observe({ priority }, waitedMs / 1000);
    },
    webhookRequest(outcome: WebhookOutcome) {
      webhookRequests.inc({ outcome });
    },
    webhookQueued(count: number) {
      webhookQueued.inc(count);
    },
  };
}
