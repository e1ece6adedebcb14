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
  KubeStatusWriter,
  ManagedSecrets,
  TokenRequestSource,
  WriteLimiter,
  createKube,
  createSecretSyncInformer,
  loadHashKey,
} from './kube/index.js';
import { Controller, Priority, WorkQueue, systemClock } from './scheduler/index.js';
import { buildServer, createMetrics, type HealthReport } from './server/index.js';
import { reconcile, reconcileSettings, type Key, type Logger } from './sync/index.js';
import { createVaultReader } from './vault/index.js';
import { initialDelayMs } from './startup.js';

/** A watch that made no progress (no event, bookmark or relist) for this long fails /healthz. */
const WATCH_STALL_MS = 15 * 60_000;

export async function runController(config: Config): Promise<number> {
  const log = pino({ level: config.logLevel, base: { app: 'vaultsync' } }) as unknown as Logger;
  const clock = systemClock();
  const stop = new AbortController();

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

  const fresh = new Set<Key>();
  const queue: WorkQueue = new WorkQueue({
    onDequeue: (_key, waitedMs, priority) => metrics.dequeued(priority, waitedMs),
  });
  const metrics = createMetrics({
    countByReady: () => countByReady(syncs.list()),
    queueDepth: () => queue.stats().depth,
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
  const settings = reconcileSettings(config, hashKey, (key) => fresh.has(key));
  const deps = { syncs, secrets, vault, status, events, clock, log, metrics, settings };

  const controller = new Controller({
    queue,
    concurrency: config.concurrency,
    log,
    clock,
    waitForCacheSync: async (signal) => {
      await Promise.all([syncs.waitForSync(signal), secrets.informer.waitForSync(signal)]);
      log.info({ secretsyncs: syncs.list().length }, 'caches synced; starting workers');
    },
    reconcile: async (key, signal) => {
      const result = await reconcile(key, deps, signal);
      fresh.delete(key);
      if (!syncs.get(key)) metrics.forget(key);
      return result;
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
  const ready = () => syncs.hasSynced() && secrets.informer.hasSynced() && controller.health().running;

  const server = buildServer({ registry: metrics.registry, health, ready });
  const ended = new Promise<string>((resolve) => {
    process.once('SIGTERM', () => resolve('SIGTERM'));
    process.once('SIGINT', () => resolve('SIGINT'));
    controller.start().catch((err: unknown) => {
      log.error({ err: err instanceof Error ? err.message : 'unknown error' }, 'caches did not sync');
      resolve('fatal');
    });
  });
  syncs.start();
  secrets.informer.start();
  await server.listen({ host: config.listen.host, port: config.listen.port });
  log.info({ listen: `${config.listen.host}:${config.listen.port}`, vault: config.vault.address }, 'vaultsync running');

  const why = await ended;
  log.info({ why }, 'shutting down');
  stop.abort();
  await controller.stop();
  await Promise.all([syncs.stop(), secrets.informer.stop()]);
  await vault.close();
  await events.close();
  await server.close();
  log.info({}, 'stopped');
  return why === 'fatal' ? 1 : 0;
}

function countByReady(list: readonly SecretSync[]): Record<string, number> {
  const out: Record<string, number> = { True: 0, False: 0, Unknown: 0 };
  for (const s of list) {
    const ready = s.status?.conditions?.find((c) => c.type === 'Ready')?.status ?? 'Unknown';
    out[ready] = (out[ready] ?? 0) + 1;
  }
  return out;
}
