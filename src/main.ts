/**
 * Wiring: the one place where clients, caches, the queue, the Vault reader and the HTTP server
 * are created and connected. Everything else receives its dependencies as parameters.
 */
import { readFile } from 'node:fs/promises';
import { pino } from 'pino';
import type { SecretSync } from './api/index.js';
import type { Config } from './config.js';
import {
  KubeEventRecorder,
  LeaderElector,
  electionIdentity,
  KubeStatusWriter,
  ManagedSecrets,
  TokenRequestSource,
  WriteLimiter,
  createKube,
  createSecretSyncInformer,
  loadHashKey,
} from './kube/index.js';
import { Controller, Priority, WorkQueue, systemClock } from './scheduler/index.js';
import {
  PathIndex,
  buildServer,
  buildWebhookServer,
  createMetrics,
  createWebhook,
  type HealthReport,
} from './server/index.js';
import { reconcile, reconcileSettings, type Key, type Logger } from './sync/index.js';
import { createVaultReader } from './vault/index.js';
import { initialDelayMs } from './startup.js';

const VAULT_PRIORITY: Record<Priority, number> = { [Priority.Push]: 2, [Priority.New]: 1, [Priority.Periodic]: 0 };

/** A watch that made no progress (no event, bookmark or relist) for this long fails /healthz. */
const WATCH_STALL_MS = 15 * 60_000;

export async function runController(config: Config): Promise<number> {
  const log = pino({ level: config.logLevel, base: { app: 'vaultsync' } }) as unknown as Logger;
  const clock = systemClock();
  const stop = new AbortController();
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
  const limiter = new WriteLimiter({ writeConcurrency: config.writeConcurrency, writeQps: config.writeQps });
  const syncs = createSecretSyncInformer({ kc: kube.kc, custom: kube.custom, namespaces, log });
  const secrets = new ManagedSecrets({ kc: kube.kc, core: kube.core, limiter, namespaces, log });

  // Pushed keys wait in `pushed` until a reconcile of them starts; that reconcile bypasses the read
  // cache. Taking the mark at the start (not clearing it at the end) means a push that arrives
  // while the key is being reconciled is not lost: it marks the key again for the next run.
  const pushed = new Set<Key>();
  const bypassing = new Set<Key>();
  const paths = new PathIndex();
  // Vault requests inherit the priority the key was dequeued with: pushed and new SecretSyncs
  // overtake periodic refreshes in the Vault rate limiter too, not only in the work queue.
  const dequeuedAs = new Map<Key, Priority>();
  const queue: WorkQueue = new WorkQueue({
    onDequeue: (key, waitedMs, priority) => {
      dequeuedAs.set(key, priority);
      metrics.dequeued(priority, waitedMs);
    },
  });
  const metrics = createMetrics({
    countByReady: () => countByReady(syncs.list()),
    queueDepth: () => queue.stats().depth,
    isLeader: () => leading,
  });

  const vault = createVaultReader({
    config: { ...config.vault, tokenPath: config.auth.tokenPath },
    tokens: new TokenRequestSource({ core: kube.core, expirationSeconds: config.auth.tokenExpirationSeconds }),
    readFile: (p) => readFile(p, 'utf8'),
    clock,
    log,
    metrics,
  });
  const events = new KubeEventRecorder({ core: kube.core, log, instance: config.instance });
  const status = new KubeStatusWriter({ custom: kube.custom, limiter, cache: syncs });

  // Handlers only enqueue keys; reconcile reads current state from the caches.
  syncs.addHandlers({
    add: (key, obj) => paths.upsert(key, obj.spec.vault.kv.mount, obj.spec.vault.kv.path),
    update: (key, obj) => paths.upsert(key, obj.spec.vault.kv.mount, obj.spec.vault.kv.path),
    delete: (key) => paths.remove(key),
  });
  syncs.addHandlers({
    add: (key, obj) => {
      const delay = syncs.hasSynced() ? 0 : initialDelayMs(obj, config.refresh, Math.random);
      if (delay === 0) queue.add(key, Priority.New);
      else queue.addAfter(key, delay, Priority.Periodic);
    },
    update: (key, obj, old) => {
      // Our own status writes come back as updates: only spec (generation) or lifecycle changes matter.
      if (
        obj.metadata.generation !== old.metadata.generation ||
        obj.metadata.deletionTimestamp !== old.metadata.deletionTimestamp
      ) {
        queue.add(key, Priority.New);
      }
    },
    delete: (key) => queue.add(key, Priority.New),
  });
  // A managed Secret changed or vanished (by hand, or by someone else): make it right again.
  // The initial list is not a change: startup scheduling is the SecretSync handler's job.
  secrets.onOwnerChange((owner) => {
    if (secrets.informer.hasSynced()) queue.add(owner, Priority.New);
  });

  const hashKey = await loadHashKey({
    file: config.hashKeyFile,
    secret: config.hashKeySecret,
    core: kube.core,
    log,
    signal: stop.signal,
  });
  const settings = reconcileSettings(
    config,
    hashKey,
    (key) => bypassing.has(key),
    (key) => VAULT_PRIORITY[dequeuedAs.get(key) ?? Priority.Periodic],
  );
  const deps = { syncs, secrets, vault, status, events, clock, log, metrics, settings };

  const controller = new Controller({
    queue,
    concurrency: config.concurrency,
    // With leader election a replica that stops leading must stop writing at once: no grace period.
    ...(le.enabled ? { stopGraceMs: 0 } : {}),
    log,
    clock,
    waitForCacheSync: async (signal) => {
      await Promise.all([syncs.waitForSync(signal), secrets.informer.waitForSync(signal)]);
      log.info({ secretsyncs: syncs.list().length }, 'caches synced; starting workers');
    },
    reconcile: async (key, signal) => {
      if (pushed.delete(key)) bypassing.add(key);
      try {
        const result = await reconcile(key, deps, signal);
        bypassing.delete(key);
        if (!syncs.get(key)) metrics.forget(key);
        return result;
      } catch (err) {
        // A failed pushed sync is retried with the cache still bypassed.
        if (bypassing.delete(key)) pushed.add(key);
        throw err;
      } finally {
        dequeuedAs.delete(key);
      }
    },
  });

  const health = (): HealthReport => {
    const problems: string[] = [];
    const now = clock.now();
    for (const [name, inf] of [
      ['SecretSync', syncs],
      ['Secret', secrets.informer],
    ] as const) {
      const idle = now - inf.lastProgressAt();
      if (idle > WATCH_STALL_MS) problems.push(`${name} watch made no progress for ${Math.round(idle / 1000)}s`);
    }
    const h = controller.health();
    if (h.stuck) problems.push(`a reconcile has run for ${Math.round((h.oldestInFlightMs ?? 0) / 1000)}s`);
    return { ok: problems.length === 0, problems };
  };
  // A standby is ready once its caches are synced: it must not block rollouts or drains.
  const ready = () => syncs.hasSynced() && secrets.informer.hasSynced() && (!leading || controller.health().running);
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
          void controller.stop();
        },
      })
    : undefined;
  let startWorkers: () => void = () => undefined;

  const webhook = createWebhook({
    keyFile: config.webhook.keyFile,
    namespaceKeysDir: config.webhook.namespaceKeysDir,
    rateLimitPerMinute: config.webhook.rateLimitPerMinute,
    coalesceWindowMs: config.webhook.coalesceWindowMs,
    index: paths,
    metrics,
    clock,
    log,
    target: {
      exists: (key) => syncs.get(key) !== undefined,
      push: (keys) => {
        for (const key of keys) {
          pushed.add(key);
          queue.add(key, Priority.Push);
        }
      },
      pendingPush: (key) => pushed.has(key),
      accepting: () => leading,
    },
  });
  const ownWebhookPort = config.webhook.listen !== undefined;
  const server = buildServer({ registry: metrics.registry, health, ready, ...(ownWebhookPort ? {} : { webhook }) });
  const webhookServer = ownWebhookPort ? buildWebhookServer(webhook) : undefined;
  const ended = new Promise<string>((resolve) => {
    process.once('SIGTERM', () => resolve('SIGTERM'));
    process.once('SIGINT', () => resolve('SIGINT'));
    startWorkers = () => {
      controller.start().catch((err: unknown) => {
        log.error({ err: err instanceof Error ? err.message : 'unknown error' }, 'caches did not sync');
        resolve('fatal');
      });
    };
    if (elector === undefined) startWorkers();
    else {
      // A replica that lost the Lease exits; Kubernetes restarts it as a standby with fresh state.
      void elector.run(stop.signal).then((end) => {
        if (end === 'lost') resolve('lost');
      });
    }
  });
  syncs.start();
  secrets.informer.start();
  await server.listen({ host: config.listen.host, port: config.listen.port });
  if (webhookServer && config.webhook.listen) {
    await webhookServer.listen({ host: config.webhook.listen.host, port: config.webhook.listen.port });
  }
  log.info({ listen: `${config.listen.host}:${config.listen.port}`, vault: config.vault.address }, 'vaultsync running');

  const why = await ended;
  log.info({ why }, 'shutting down');
  await controller.stop();
  // Only after the last write: an empty holder lets a standby take over at once.
  await elector?.release();
  stop.abort();
  await Promise.all([syncs.stop(), secrets.informer.stop()]);
  await vault.close();
  await events.close();
  await server.close();
  await webhookServer?.close();
  log.info({}, 'stopped');
  return why === 'fatal' || why === 'lost' ? 1 : 0;
}

function countByReady(list: readonly SecretSync[]): Record<string, number> {
  const out: Record<string, number> = { True: 0, False: 0, Unknown: 0 };
  for (const s of list) {
    const ready = s.status?.conditions?.find((c) => c.type === 'Ready')?.status ?? 'Unknown';
    out[ready] = (out[ready] ?? 0) + 1;
  }
  return out;
}
