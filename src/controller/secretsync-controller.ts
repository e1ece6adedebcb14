/**
 * The SecretSync controller, in the manner of controller-runtime's SetupWithManager + Reconciler:
 * everything it listens to (SecretSyncs, the Secrets it manages), which events it ignores, how a
 * Secret maps back to its owner, when an object is first looked at, and its health rules live here.
 * Watch handlers only enqueue requests; the reconcile re-reads current state from the caches.
 */
import type { SecretSync } from '../api/index.js';
import { splitKey, type Clock, type Key, type Logger } from '../core/types.js';
import { Priority, Runner, type RunnerHealth, type WorkQueue } from '../scheduler/index.js';
import { PathIndex, type HealthReport, type RefreshTarget } from '../server/index.js';
import { selectSources } from '../sources/index.js';
import { classifyError } from './classify.js';
import { readGroupKey } from '../vault/index.js';
import { identityFor } from './identity.js';
import { initialDelayMs } from './interval.js';
import { NamespaceQuota } from './quota.js';
import { reconcile, type ReconcileDeps } from './reconcile.js';
import { FORCE_SYNC_ANNOTATION, forceSyncPending, RefreshMemory } from './refresh-policy.js';
import { StatusLane } from './status-lane.js';
import { OWNER_UID_ANNOTATION, type StoredSecret } from './types.js';

/**
 * How long a push's statuses (status-lane.ts) and Events (main.ts) wait at most for the push's Secret
 * writes: pushes that keep coming delay Ready conditions and Events by this much, never for ever.
 */
export const PUSH_HOLD_MAX_MS = 5_000;

/** A watch that made no progress (no event, bookmark or relist) for this long fails /healthz. */
export const WATCH_STALL_MS = 15 * 60_000;

/** What the controller needs of an informer: handlers, cache state and watch progress. */
export interface WatchedCache<T> {
  addHandlers(handlers: {
    add?: (key: Key, obj: T) => void;
    update?: (key: Key, obj: T, old: T) => void;
    delete?: (key: Key, obj: T) => void;
  }): void;
  hasSynced(): boolean;
  waitForSync(signal: AbortSignal): Promise<void>;
  lastProgressAt(): number;
  list(): readonly T[];
}

export interface SecretSyncControllerDeps extends Omit<ReconcileDeps, 'syncs' | 'secrets'> {
  syncs: WatchedCache<SecretSync> & ReconcileDeps['syncs'];
  secrets: ReconcileDeps['secrets'] & {
    informer: Pick<WatchedCache<unknown>, 'hasSynced' | 'waitForSync' | 'lastProgressAt'>;
    onOwnerChange(handler: (owner: Key, secret: StoredSecret) => void): void;
  };
  queue: WorkQueue;
  /** Workers (config.concurrency). */
  concurrency: number;
  /** With leader election a replica that stops leading must stop writing at once: no grace period. */
  stopGraceMs?: number;
  /** Randomness of the startup spread; [0, 1) like Math.random. */
  rand?: () => number;
  /** SecretSyncs synced per namespace (the oldest); 0 or absent: no bound. */
  maxSecretSyncsPerNamespace?: number;
}

/** Whether an update of a SecretSync is one the controller must act on. Our own status writes come
 *  back as updates: only a spec change (generation), deletion, or a new force-sync value matter. */
export function updateMatters(obj: SecretSync, old: SecretSync): boolean {
  return (
    obj.metadata.generation !== old.metadata.generation ||
    obj.metadata.deletionTimestamp !== old.metadata.deletionTimestamp ||
    obj.metadata.annotations?.[FORCE_SYNC_ANNOTATION] !== old.metadata.annotations?.[FORCE_SYNC_ANNOTATION]
  );
}

export class SecretSyncController {
  /** Which SecretSyncs read which Vault path: the webhook's lookup. */
  readonly paths = new PathIndex();
  readonly #deps: SecretSyncControllerDeps;
  readonly #runner: Runner;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #quota: NamespaceQuota;
  /** The initial list, held until it is complete and then queued group by group; undefined after. */
  #initial: { key: Key; group: string; delayMs: number }[] | undefined = [];
  /** Keys of the initial list queued for a sync now and not reconciled yet (reconcile.ts). */
  readonly #startupReaders = new Set<Key>();
  /** When queueInitialList ran (clock ms). */
  #initialListAt: number | undefined;
  /** Status writes of pushes, behind their Secret writes. */
  readonly #statusLane: StatusLane;

  constructor(deps: SecretSyncControllerDeps) {
    this.#quota = new NamespaceQuota(deps.maxSecretSyncsPerNamespace ?? 0);
    this.#deps = deps;
    this.#clock = deps.clock;
    this.#log = deps.log;
    const { syncs, secrets, queue } = deps;
    this.#statusLane = new StatusLane({
      syncs,
      status: deps.status,
      log: deps.log,
      onFailed: (key) => queue.addRateLimited(key, Priority.Periodic),
      afterPushes: () => queue.whenDrained(Priority.Push, PUSH_HOLD_MAX_MS),
    });
    const reconcileDeps: ReconcileDeps = {
      ...deps,
      syncs,
      secrets,
      quota: this.#quota,
      memory: deps.memory ?? new RefreshMemory(),
      startupReaders: this.#startupReaders,
      initialListAt: () => this.#initialListAt,
      statusLane: this.#statusLane,
    };
    this.#runner = new Runner({
      queue,
      concurrency: deps.concurrency,
      classify: classifyError,
      log: deps.log,
      ...(deps.stopGraceMs === undefined ? {} : { stopGraceMs: deps.stopGraceMs }),
      waitForCacheSync: async (signal) => {
        await Promise.all([syncs.waitForSync(signal), secrets.informer.waitForSync(signal)]);
        this.queueInitialList();
        this.#log.info({ secretsyncs: syncs.list().length }, 'caches synced; starting workers');
      },
      reconcile: (request, signal) => reconcile(request, reconcileDeps, signal),
    });
    this.#watchSecretSyncs();
    this.#watchManagedSecrets();
  }

  #watchSecretSyncs(): void {
    const { syncs, queue, sources, settings } = this.#deps;
    const rand = this.#deps.rand ?? Math.random;
    const index = (key: Key, obj: SecretSync): void => {
      try {
        // Every item's location: a push to any of them refreshes this SecretSync.
        this.paths.set(
          key,
          selectSources(sources, obj).map(({ target }) => target),
        );
      } catch {
        this.paths.remove(key); // no known source: reconcile reports InvalidSpec; nothing to push
      }
    };
    syncs.addHandlers({
      add: (key, obj) => {
        index(key, obj);
        this.#quota.upsert(key, obj);
        if (syncs.hasSynced() || this.#initial === undefined) {
          queue.add(key, Priority.New);
          return;
        }
        // Objects of the initial list that an earlier run synced are spread over their interval;
        // a force-sync asked for while no controller ran is served at once.
        const delayMs = forceSyncPending(obj) ? 0 : initialDelayMs(obj, settings.refresh, rand);
        this.#initial.push({ key, group: this.#readGroupOf(obj), delayMs });
      },
      update: (key, obj, old) => {
        index(key, obj);
        // A new force-sync value needs no mark on the request: reconcile sees it pending (annotation
        // vs status.lastForceSync) and reads fresh; the same value again is no change, so no loop.
        if (updateMatters(obj, old)) queue.add(key, Priority.New);
      },
      delete: (key) => {
        this.paths.remove(key);
        queue.add(key, Priority.New);
        // A place under the namespace's bound is free: the SecretSyncs waiting for one look again.
        for (const waiting of this.#quota.remove(key)) queue.add(waiting, Priority.New);
      },
    });
  }

  /**
   * Queues the initial list, once it is complete, sorted by read group: the readers of one
   * (identity, path) then follow each other in their namespace's lane, so the first one's read (in
   * flight, or just cached) serves the rest however the lanes interleave: about one Vault read per
   * group at startup, not one per SecretSync. Where the lanes' turns come too slowly for the usual
   * shared-read window (a busy controller), the group's startup readers still share its first read,
   * up to the read cache's TTL (startupReaders in reconcile.ts), and their first refresh comes an
   * interval after this call at the earliest (initialListAt), so an initial sync shorter than the
   * interval reads each group once. Called when the caches have synced; idempotent.
   */
  queueInitialList(): void {
    const initial = this.#initial;
    this.#initial = undefined;
    if (initial === undefined) return;
    this.#initialListAt = this.#clock.now();
    initial.sort((a, b) => compare(a.group, b.group) || compare(a.key, b.key));
    const { queue } = this.#deps;
    for (const { key, delayMs } of initial) {
      if (delayMs === 0) {
        this.#startupReaders.add(key);
        queue.add(key, Priority.New);
      } else queue.addAfter(key, delayMs, Priority.Periodic);
    }
  }

  /** The read group of a SecretSync, or '' when its spec cannot say (reconcile reports why). */
  #readGroupOf(sync: SecretSync): string {
    try {
      // The first item sets the refresh phase (reconcile.ts), so it is the group to follow.
      const [first] = selectSources(this.#deps.sources, sync);
      return first === undefined ? '' : readGroupKey(identityFor(sync, this.#deps.settings), first.target);
    } catch {
      return '';
    }
  }

  /** A managed Secret changed or vanished (by hand, or by someone else): make it right again. The
   *  initial list is not a change: startup scheduling is the SecretSync handler's job. */
  #watchManagedSecrets(): void {
    const { secrets, queue } = this.#deps;
    secrets.onOwnerChange((owner, secret) => {
      if (secrets.informer.hasSynced() && this.#belongsTo(secret, owner)) queue.add(owner, Priority.New);
    });
  }

  /**
   * Whether `secret` may wake `owner`: anyone who can label a Secret can name any owner in its
   * annotation, so only a Secret in the owner's own namespace that carries the owner's current uid
   * (our annotation, or the owner reference of Secrets written before it existed) counts.
   */
  #belongsTo(secret: StoredSecret, owner: Key): boolean {
    if (secret.metadata.namespace !== splitKey(owner).namespace) return false;
    const sync = this.#deps.syncs.get(owner);
    if (sync === undefined) return false;
    const uid =
      secret.metadata.annotations?.[OWNER_UID_ANNOTATION] ??
      secret.metadata.ownerReferences?.find((r) => r.kind === sync.kind && r.name === sync.metadata.name)?.uid;
    return uid === sync.metadata.uid;
  }

  /** Waits for the caches, then runs the workers. Rejects if the caches never sync. */
  startWorkers(): Promise<void> {
    return this.#runner.start();
  }

  /** Stops the workers (in-flight reconciles get the grace period), then drops the statuses still
   *  waiting in the lane: a replica that stops leading stops writing. Idempotent. */
  async stopWorkers(): Promise<void> {
    await this.#runner.stop();
    this.#statusLane.close();
  }

  workers(): RunnerHealth {
    return this.#runner.health();
  }

  /** What the webhook may do: queue fresh requests ahead of everything else. */
  refreshTarget(accepting: () => boolean): RefreshTarget {
    const { syncs, queue } = this.#deps;
    return {
      exists: (key) => syncs.get(key) !== undefined,
      push: (keys) => {
        // One time for the whole push: its SecretSyncs share one read made since (per identity).
        const freshSince = this.#clock.now();
        for (const key of keys) queue.add(key, Priority.Push, { fresh: true, freshSince });
      },
      pendingPush: (key) => queue.pendingFresh(key),
      accepting,
    };
  }

  /** Liveness: watches that make progress and no wedged reconcile. */
  health(): HealthReport {
    const problems: string[] = [];
    const now = this.#clock.now();
    const { syncs, secrets } = this.#deps;
    for (const [name, inf] of [
      ['SecretSync', syncs],
      ['Secret', secrets.informer],
    ] as const) {
      const idle = now - inf.lastProgressAt();
      if (idle > WATCH_STALL_MS) problems.push(`${name} watch made no progress for ${Math.round(idle / 1000)}s`);
    }
    const h = this.#runner.health();
    if (h.stuck) problems.push(`a reconcile has run for ${Math.round((h.oldestInFlightMs ?? 0) / 1000)}s`);
    return { ok: problems.length === 0, problems };
  }

  /** Readiness: caches synced; a leader also needs running workers. A standby must not block rollouts. */
  ready(leading: boolean): boolean {
    const { syncs, secrets } = this.#deps;
    return syncs.hasSynced() && secrets.informer.hasSynced() && (!leading || this.#runner.health().running);
  }
}

const compare = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
