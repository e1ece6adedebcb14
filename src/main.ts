/**
 * Assembly: the one place where clients, caches, the queue, the sources and the HTTP servers are
 * created and connected (STYLE.md §2, §3). `build` creates everything and starts nothing; `start`
 * starts the watches and the workers (or leader election); the caller listens on `servers` and
 * decides when to `stop` (cli.ts: on a signal, or when `ended` resolves).
 */
import { readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import type { FastifyInstance } from 'fastify';
import type { SecretSync } from './api/index.js';
import type { Config } from './config.js';
import { readBuildInfo } from './build-info.js';
import { createLogger } from './log/index.js';
import { PUSH_HOLD_MAX_MS, reconcileSettings, RolloutRestarter, SecretSyncController } from './controller/index.js';
import { keyOf, splitKey, type Logger } from './core/types.js';
import {
  KubeEventRecorder,
  LeaderElector,
  electionIdentity,
  KubeStatusWriter,
  KubeWorkloadPatcher,
  ManagedSecrets,
  TokenRequestSource,
  WriteLimiter,
  createKube,
  createSecretSyncInformer,
  loadHashKey,
  KubeLeaseRecords,
} from './kube/index.js';
import { Priority, WorkQueue, systemClock } from './scheduler/index.js';
import {
  Forwarder,
  LEADER_WEBHOOK_ANNOTATION,
  buildServer,
  buildWebhookServer,
  createMetrics,
  createWebhook,
  forwardKey,
} from './server/index.js';
import { databaseSource, dynamicSlotsOf, kvSource, LeaseKeeper, pkiSource, startLeaseSweeps } from './sources/index.js';
import { createVaultReader } from './vault/index.js';

/** Why a running app ended by itself: it lost the Lease (exit and restart as a standby), or the
 *  caches never synced. */
export type AppEnd = 'lost' | 'fatal';

export interface App {
  /** Not listening yet: the caller listens (`main` on config.listen; tests may inject). */
  servers: { main: FastifyInstance; webhook?: FastifyInstance };
  /** Starts the watches, then the workers, or leader election that starts them while leading. */
  start(): void;
  /** Resolves when the app ends by itself. */
  ended: Promise<AppEnd>;
  /** Stops writing, releases the Lease, stops watches, closes clients and servers. Idempotent. */
  stop(): Promise<void>;
  log: Logger;
}

export interface BuildOptions {
  /** The logger; default pino on stdout at config.logLevel in config.logFormat. */
  log?: Logger;
}

export async function build(config: Config, options: BuildOptions = {}): Promise<App> {
  const log =
    options.log ?? createLogger({ level: config.logLevel, format: config.logFormat, base: { app: 'vaultsync' } });
  const clock = systemClock();
  const stopping = new AbortController();
  const le = config.leaderElection;
  // Without leader election this replica always writes; with it, only while it holds the Lease.
  let leading = !le.enabled;

  const kube = createKube({
    kubeconfig: config.kubeconfig,
    context: config.kubeContext,
    tokenFile: config.kubeTokenFile,
    log,
  });
  const namespaces = config.namespaces.length > 0 ? config.namespaces : undefined;
  const limiter = new WriteLimiter({
    writeConcurrency: config.writeConcurrency,
    writeQps: config.writeQps,
    writeQpsPerTenant: config.tenancy.writeQpsPerNamespace,
  });
  const hashKey = await loadHashKey({
    file: config.hashKeyFile,
    secret: config.hashKeySecret,
    api: kube.http,
    log,
    signal: stopping.signal,
  });
  const syncs = createSecretSyncInformer({ api: kube.http, namespaces, log });
  const secrets = new ManagedSecrets({ api: kube.http, limiter, hashKey, namespaces, log });
  // Namespaces are the lanes: they take turns, and one namespace holds at most its share of workers.
  const queue = new WorkQueue({
    onDequeue: (_key, waitedMs, priority) => metrics.dequeued(priority, waitedMs),
    laneOf: (key) => splitKey(key).namespace,
    maxInFlightPerLane: config.tenancy.maxWorkersPerNamespace,
  });
  const metrics = createMetrics(
    {
      countByReady: () => countByReady(syncs.list()),
      readyByKey: () => syncs.list().map((s) => [keyOf(s), readyOf(s)] as const),
      queueDepth: () => queue.stats().depth,
      isLeader: () => leading,
    },
    { perSecretSync: config.metrics.perSecretSync, clock, build: readBuildInfo() },
  );
  const vault = createVaultReader({
    config: {
      ...config.vault,
      tokenPath: config.auth.tokenPath,
      requestsPerSecondPerTenant: config.tenancy.vaultQpsPerNamespace,
    },
    tokens: new TokenRequestSource({ api: kube.http, expirationSeconds: config.auth.tokenExpirationSeconds }),
    readFile: (p) => readFile(p, 'utf8'),
    clock,
    log,
    metrics,
  });
  const events = new KubeEventRecorder({
    api: kube.http,
    log,
    instance: config.instance,
    after: () => queue.whenDrained(Priority.Push, PUSH_HOLD_MAX_MS),
  });
  // What the dynamic sources hold, recorded where tenants cannot read it (docs/dynamic-secrets.md).
  const keeper = new LeaseKeeper({
    vault: vault.leases,
    records: new KubeLeaseRecords({ api: kube.http, namespace: config.controllerNamespace, limiter, log }),
    clock,
    log: log.child({ component: 'leases' }),
    revokeGraceMs: config.vault.leaseRevokeGraceMs,
  });
  const dynamic = { vault: vault.leases, keeper, clock };
  const restarts = new RolloutRestarter({
    patcher: new KubeWorkloadPatcher({ api: kube.http, limiter }),
    events,
    syncs,
    clock,
    log,
    hashKey,
  });

  const controller = new SecretSyncController({
    syncs,
    secrets,
    queue,
    sources: [kvSource(vault), databaseSource(dynamic), pkiSource(dynamic)],
    status: new KubeStatusWriter({ api: kube.http, limiter, cache: syncs }),
    events,
    clock,
    log,
    metrics,
    restarts,
    settings: reconcileSettings(config, hashKey),
    concurrency: config.concurrency,
    maxSecretSyncsPerNamespace: config.tenancy.maxSecretSyncsPerNamespace,
    ...(le.enabled ? { stopGraceMs: 0 } : {}),
  });

  let draining = false;
  let stopped: Promise<void> | undefined;
  let endApp: (why: AppEnd) => void = () => undefined;
  const ended = new Promise<AppEnd>((resolve) => (endApp = resolve));
  const startWorkers = (): void => {
    controller
      .startWorkers()
      // Only a leader with synced caches sweeps: it revokes what SecretSyncs deleted meanwhile held.
      .then(() =>
        startLeaseSweeps(
          keeper,
          (key, uid) => dynamicSlotsOf(syncs.get(key), uid),
          (key, withinMs) => queue.addAfter(key, withinMs, Priority.Periodic),
          stopping.signal,
          log,
        ),
      )
      .catch((err: unknown) => {
        log.error({ err: err instanceof Error ? err.message : 'unknown error' }, 'caches did not sync');
        endApp('fatal');
      });
  };
  const elector = le.enabled
    ? new LeaderElector({
        coordination: kube.coordination,
        namespace: config.controllerNamespace,
        name: le.leaseName,
        identity: electionIdentity(config.instance),
        leaseDurationMs: le.leaseDurationMs,
        renewDeadlineMs: le.renewDeadlineMs,
        retryPeriodMs: le.retryPeriodMs,
        clock,
        log,
        onStartedLeading: () => {
          leading = true;
          startWorkers();
        },
        onStoppedLeading: () => {
          leading = false;
          void controller.stopWorkers();
        },
        // Where standbys forward pushes to while this replica leads (docs/webhook.md).
        holderAnnotations: { [LEADER_WEBHOOK_ANNOTATION]: config.webhook.peerAddress },
      })
    : undefined;
  const peers = elector && {
    forwarder: new Forwarder({
      leader: {
        isLeader: () => leading,
        leaderAddress: () => elector.leaderAnnotation(LEADER_WEBHOOK_ANNOTATION),
        look: (timeoutMs) => elector.look(timeoutMs),
        // A replica that is stopping will never run its queue.
        canDefer: () => stopped === undefined,
      },
      key: forwardKey(hashKey),
      waitMs: config.webhook.handoverWaitMs,
      clock,
      log,
    }),
    hopKey: forwardKey(hashKey),
  };

  const webhook = createWebhook({
    keyFile: config.webhook.keyFile,
    namespaceKeysDir: config.webhook.namespaceKeysDir,
    rateLimitPerMinute: config.webhook.rateLimitPerMinute,
    globalRateLimitPerMinute: config.webhook.globalRateLimitPerMinute,
    trustedProxies: config.webhook.trustedProxies,
    coalesceWindowMs: config.webhook.coalesceWindowMs,
    index: controller.paths,
    metrics,
    clock,
    log,
    target: controller.refreshTarget(() => leading),
    ...(peers ? { peers } : {}),
  });
  const ownWebhookPort = config.webhook.listen !== undefined;
  const main = buildServer({
    registry: metrics.registry,
    health: () => controller.health(),
    ready: () => !draining && controller.ready(leading),
    ...(ownWebhookPort ? {} : { webhook }),
  });
  const servers = { main, ...(ownWebhookPort ? { webhook: buildWebhookServer(webhook) } : {}) };

  const stop = async (): Promise<void> => {
    await controller.stopWorkers();
    // Restarts waiting in their window are dropped (docs/refresh.md); ones being patched finish.
    await restarts.stop();
    // Only after the last write: an empty holder lets a standby take over at once.
    await elector?.release();
    if (elector !== undefined && le.shutdownDrainMs > 0) {
      // Replicas behind a Service: requests routed here before the endpoints change are still
      // answered (forwarded to the new leader) instead of finding a closed port.
      draining = true;
      log.info({ ms: le.shutdownDrainMs }, 'draining before shutdown');
      await sleep(le.shutdownDrainMs);
    }
    stopping.abort();
    await Promise.all([syncs.stop(), secrets.informer.stop()]);
    await vault.close();
    await events.close();
    kube.http.close();
    await Promise.all([servers.main.close(), servers.webhook?.close()]);
    log.info({}, 'stopped');
  };

  return {
    servers,
    ended,
    log,
    start() {
      syncs.start();
      secrets.informer.start();
      if (elector === undefined) startWorkers();
      else {
        // A replica that lost the Lease exits; Kubernetes restarts it as a standby with fresh state.
        void elector.run(stopping.signal).then((end) => {
          if (end === 'lost') endApp('lost');
        });
      }
    },
    stop: () => (stopped ??= stop()),
  };
}

/** The status of the Ready condition: True, False, or Unknown (also before the first reconcile). */
function readyOf(s: SecretSync): string {
  return s.status?.conditions?.find((c) => c.type === 'Ready')?.status ?? 'Unknown';
}

function countByReady(list: readonly SecretSync[]): Record<string, number> {
  const out: Record<string, number> = { True: 0, False: 0, Unknown: 0 };
  for (const s of list) {
    const ready = readyOf(s);
    out[ready] = (out[ready] ?? 0) + 1;
  }
  return out;
}
