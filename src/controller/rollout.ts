import { createHmac } from 'node:crypto';
import type { SecretSync } from '../api/index.js';
import { keyOf, type Key, type Logger } from '../core/types.js';
import { isSyncError } from '../errors.js';
import { DelayQueue, Priority, type SchedulerClock } from '../scheduler/index.js';
import { describeError } from './classify.js';
import type { EventRecorder, SecretSyncLister, WorkloadPatcher, WorkloadRef } from './types.js';

/** Pod template annotations a restart sets, as `kubectl rollout restart` sets kubectl.kubernetes.io/restartedAt. */
export const RESTARTED_AT_ANNOTATION = 'vaultsync.io/restartedAt';
/** Keyed digest of the Secret contents the restart was for (never a plain hash of data). */
export const RESTART_DIGEST_ANNOTATION = 'vaultsync.io/restart-digest';

/** Changes to the Secrets feeding one workload within this window make one restart. */
export const DEFAULT_ROLLOUT_WINDOW_MS = 2_000;
/** A patch that failed (not a missing workload) is tried again this often, then given up with an event. */
const MAX_ATTEMPTS = 3;
const RETRY_MS = 5_000;

export interface RolloutRestarterDeps {
  patcher: WorkloadPatcher;
  events: EventRecorder;
  syncs: SecretSyncLister;
  clock: SchedulerClock;
  log: Logger;
  /** Key of the restart digest (the controller's content HMAC key). */
  hashKey: Buffer;
  windowMs?: number;
}

interface Pending {
  ref: WorkloadRef;
  /** SecretSync key → SecretStore.digestData of its Secret's new data. */
  changes: Map<Key, string>;
  attempts: number;
}

/**
 * Restarts the workloads that consume a Secret when its data changed, once per change: the first
 * change to a workload's Secrets opens a window (one delay timer for all workloads, not one per
 * object); every change inside it joins the same restart; when it closes, one merge patch sets the
 * pod template's restartedAt and restart-digest annotations. A restart whose digest equals the last
 * one this process patched onto the workload is skipped, so a change noted twice restarts once.
 *
 * Restarts never fail a sync: a missing workload is a Warning event (RolloutTargetNotFound), other
 * failures are retried a few times and then reported (RolloutRestartFailed). A restart waiting in
 * the window is lost if the controller stops within it (docs/refresh.md says so).
 */
export class RolloutRestarter {
  readonly #deps: RolloutRestarterDeps;
  readonly #windowMs: number;
  readonly #pending = new Map<string, Pending>();
  readonly #lastDigest = new Map<string, string>();
  readonly #timer: DelayQueue<string>;
  readonly #inFlight = new Set<Promise<void>>();
  #stopped = false;

  constructor(deps: RolloutRestarterDeps) {
    this.#deps = deps;
    this.#windowMs = deps.windowMs ?? DEFAULT_ROLLOUT_WINDOW_MS;
    this.#timer = new DelayQueue<string>(deps.clock, (id) => {
      const run = this.#restart(id).finally(() => this.#inFlight.delete(run));
      this.#inFlight.add(run);
    });
  }

  /** The Secret of `sync` now holds different data (`dataDigest`): restart its targets after the window. */
  noteChange(sync: SecretSync, dataDigest: string): void {
    const targets = sync.spec.rolloutRestartTargets ?? [];
    if (this.#stopped || targets.length === 0) return;
    const key = keyOf(sync);
    for (const target of targets) {
      const ref = { namespace: sync.metadata.namespace, kind: target.kind, name: target.name };
      const id = workloadId(ref);
      let pending = this.#pending.get(id);
      if (pending === undefined) {
        pending = { ref, changes: new Map(), attempts: 0 };
        this.#pending.set(id, pending);
      }
      pending.changes.set(key, dataDigest);
      // The earliest due time wins: a later change joins the open window, it does not extend it.
      this.#timer.add(id, this.#deps.clock.now() + this.#windowMs, Priority.New);
    }
  }

  /** Workloads with a restart waiting. */
  get pending(): number {
    return this.#pending.size;
  }

  /** Drops waiting restarts and waits for the ones being patched. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#timer.clear();
    this.#pending.clear();
    await Promise.all([...this.#inFlight]);
  }

  async #restart(id: string): Promise<void> {
    const pending = this.#pending.get(id);
    if (pending === undefined) return;
    this.#pending.delete(id);
    const { ref } = pending;
    const digest = restartDigest(this.#deps.hashKey, ref, pending.changes);
    if (this.#lastDigest.get(id) === digest) return;
    const now = new Date(this.#deps.clock.now()).toISOString().replace(/\.\d+Z$/, 'Z');
    const what = `${ref.kind} ${ref.name}`;
    const log = this.#deps.log.child({ workload: `${ref.namespace}/${ref.kind}/${ref.name}` });
    try {
      const result = await this.#deps.patcher.patchTemplateAnnotations(ref, {
        [RESTARTED_AT_ANNOTATION]: now,
        [RESTART_DIGEST_ANNOTATION]: digest,
      });
      if (result === 'missing') {
        log.info({}, 'rollout restart target not found');
        this.#tell(
          pending,
          'Warning',
          'RolloutTargetNotFound',
          `${what} not found in namespace ${ref.namespace}; nothing was restarted (spec.rolloutRestartTargets)`,
        );
        return;
      }
      this.#lastDigest.set(id, digest);
      log.info({ secretsyncs: [...pending.changes.keys()] }, 'rollout restarted');
      this.#tell(
        pending,
        'Normal',
        'RolloutRestarted',
        `Restarted ${what} (pod template annotation ${RESTARTED_AT_ANNOTATION}) after the Secret's data changed`,
      );
    } catch (err) {
      pending.attempts += 1;
      const status = isSyncError(err) ? err.status : undefined;
      log.warn({ attempts: pending.attempts, status, ...describeError(err) }, 'rollout restart failed');
      if (pending.attempts < MAX_ATTEMPTS && !this.#stopped) {
        const merged = this.#pending.get(id);
        if (merged === undefined) this.#pending.set(id, pending);
        else for (const [k, d] of pending.changes) if (!merged.changes.has(k)) merged.changes.set(k, d);
        this.#timer.add(id, this.#deps.clock.now() + RETRY_MS, Priority.Periodic);
        return;
      }
      const code = status === undefined ? '' : ` (HTTP ${status})`;
      this.#tell(
        pending,
        'Warning',
        'RolloutRestartFailed',
        `could not restart ${what}${code}; the Secret itself is up to date. Check the controller's RBAC (patch on apps ${ref.kind.toLowerCase()}s) and its log`,
      );
    }
  }

  /** An event on every SecretSync whose change asked for this restart (those still there). */
  #tell(pending: Pending, type: 'Normal' | 'Warning', reason: string, message: string): void {
    for (const key of pending.changes.keys()) {
      const sync = this.#deps.syncs.get(key);
      if (sync !== undefined) this.#deps.events.record(sync, type, reason, message);
    }
  }
}

const workloadId = (ref: WorkloadRef): string => `${ref.namespace}/${ref.kind}/${ref.name}`;

/** Keyed HMAC over the workload and the (SecretSync, data digest) pairs of the restart, hex, 32 chars. */
export function restartDigest(key: Buffer, ref: WorkloadRef, changes: ReadonlyMap<Key, string>): string {
  const pairs = [...changes].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return createHmac('sha256', key)
    .update(JSON.stringify(['vaultsync/restart/v1', ref.namespace, ref.kind, ref.name, pairs]))
    .digest('hex')
    .slice(0, 32);
}
