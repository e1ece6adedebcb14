import { SAFE_SECRET_TYPES, sourceErrors, type SecretSync, type SecretSyncStatus } from '../api/index.js';
import type { Config } from '../config.js';
import { keyOf, type Clock, type Key, type Logger } from '../core/types.js';
import { SyncError, isSyncError, type Reason } from '../errors.js';
import { checkSecretSize, desiredSecret, describeVersions, renderSources, targetName } from '../render/index.js';
import {
  Priority,
  readMaxAgeMs,
  refreshDelayMs,
  startupRefreshNotBefore,
  type ReconcileResult,
  type Request,
} from '../scheduler/index.js';
import { selectSources, type Source } from '../sources/index.js';
import { readGroupKey } from '../vault/index.js';
import { applySecret, type WriteResult } from './apply.js';
import { describeError } from './classify.js';
import { deleteOwnedSecrets } from './cleanup.js';
import { identityFor, type IdentityDefaults } from './identity.js';
import { refreshIntervalMs, type RefreshSettings } from './interval.js';
import {
  decideRead,
  forceSyncPending,
  forceSyncToken,
  policyOf,
  requeueAfter,
  type RefreshMemory,
  type Remembered,
} from './refresh-policy.js';
import { failureStatus, keptStatus, sameStatus, successStatus } from './status.js';
import {
  READY,
  type EventRecorder,
  type ManagedSecretIndex,
  type SecretStore,
  type SecretSyncLister,
  type StatusWriter,
  type StoredSecret,
  type SyncMetrics,
} from './types.js';

/** What reconcile needs from Config, plus the HMAC key. */
export interface ReconcileSettings extends IdentityDefaults {
  refresh: RefreshSettings;
  /** Key of the content HMAC (HASH_ANNOTATION). */
  hashKey: Buffer;
  /** Upper bound of how long a Vault read is shared (the reader's cache TTL). */
  readCacheTtlMs: number;
  /** Custom Secret types the operator allows besides SAFE_SECRET_TYPES. */
  allowedSecretTypes?: readonly string[];
}

export interface ReconcileDeps {
  syncs: SecretSyncLister;
  secrets: SecretStore & ManagedSecretIndex;
  /** The kinds of secret source; a SecretSync's spec selects one (sources/). */
  sources: readonly Source[];
  status: StatusWriter;
  events: EventRecorder;
  clock: Clock;
  log: Logger;
  metrics: SyncMetrics;
  settings: ReconcileSettings;
  /** Whether the namespace's bound on SecretSyncs lets this one sync (controller/quota.ts). */
  quota?: { check(key: Key): SyncError | undefined };
  /** What the refresh policies remember per key (controller/refresh-policy.ts); absent: nothing. */
  memory?: RefreshMemory;
  /** Told when a Secret's data changed, to restart spec.rolloutRestartTargets (controller/rollout.ts). */
  restarts?: { noteChange(sync: SecretSync, dataDigest: string): void };
  /**
   * The SecretSyncs of the initial list still waiting for their first sync in this process
   * (secretsync-controller.ts). Their first read accepts a shared result up to the read cache's TTL,
   * so a group's startup readers share one read however slowly their namespace's turns come; a key
   * leaves the set after its first reconcile.
   */
  startupReaders?: { has(key: Key): boolean; delete(key: Key): boolean };
  /** When the initial list was queued (clock ms; undefined before): a startup reader's first refresh
   *  comes an interval after it at the earliest (scheduler/timing.ts, startupRefreshNotBefore). */
  initialListAt?: () => number | undefined;
  /** Where a push's status writes go, behind Secret writes (controller/status-lane.ts); absent:
   *  every status is written by the reconcile itself. */
  statusLane?: {
    submit(key: Key, status: SecretSyncStatus): void;
    pending(key: Key): SecretSyncStatus | undefined;
    queued(key: Key): boolean;
  };
}

/** Vault requests inherit the request's priority: pushed and new SecretSyncs overtake periodic
 *  refreshes in the Vault rate limiter too, not only in the work queue. */
const VAULT_PRIORITY: Record<Priority, number> = { [Priority.Push]: 2, [Priority.New]: 1, [Priority.Periodic]: 0 };

export function reconcileSettings(config: Config, hashKey: Buffer): ReconcileSettings {
  const { address, caBundle, vaultNamespace, authMount, allowedAddresses } = config.vault;
  return {
    vault: { address, caBundle, vaultNamespace, authMount, allowedAddresses },
    tokenAudiences: config.auth.tokenAudiences,
    allowControllerIdentity: config.auth.allowControllerIdentity,
    controllerVaultRole: config.auth.controllerVaultRole,
    refresh: { ...config.refresh },
    hashKey,
    readCacheTtlMs: config.vault.readCacheTtlMs,
    allowedSecretTypes: config.allowedSecretTypes,
  };
}

interface Synced {
  secretName: string;
  /** The version of each source item, in order. */
  versions: number[];
  write: WriteResult;
  requeueAfterMs: number | undefined;
  /** The soonest notAfter of the sources (certificates), ms since the epoch. */
  notAfter?: number;
  /** The Secret as written or found equal (RefreshMemory's `secret`, set once the status is too). */
  settledSecret?: NonNullable<Remembered['secret']>;
}

/** The Secret is still what this process wrote for this spec, and the request was no refresh:
 *  nothing read, nothing written, the next refresh where the last read put it. */
interface Settled {
  settled: true;
  requeueAfterMs: number | undefined;
}

/** The refresh policy left the Secret as it is: nothing read, nothing written. */
interface Kept {
  kept: 'CreatedOnce' | 'OnChange';
  secretName: string;
  /** The cached Secret kept (its version annotation says what it holds). */
  secret: StoredSecret;
}

/** Makes the Secret of one SecretSync match Vault. Safe to call any number of times.
 *  Throws SyncError (retried with backoff unless `terminal`); returns when to look again.
 *  A `fresh` request (a push) bypasses shared reads. */
export async function reconcile(request: Request, deps: ReconcileDeps, signal: AbortSignal): Promise<ReconcileResult> {
  const { key } = request;
  const log = deps.log.child({ secretsync: key });
  // Only the first reconcile of a key from the initial list is a startup read (a retry is not).
  const startup = deps.startupReaders?.delete(key) === true;
  const cached = deps.syncs.get(key);
  // A status still in the lane is the one this reconcile builds on, as if it were written.
  const pending = deps.statusLane?.pending(key);
  const sync = cached === undefined || pending === undefined ? cached : { ...cached, status: pending };
  if (sync === undefined || sync.metadata.deletionTimestamp !== undefined) {
    await guard('KubernetesApiError', 'deleting the Secrets of a deleted SecretSync', log, () =>
      deleteOwnedSecrets(key, deps.secrets, log, signal),
    );
    // What the sources hold for it (leases) goes only after its Secrets: consumers never keep
    // credentials that were already revoked.
    await guard('VaultUnavailable', 'releasing what the sources hold for a deleted SecretSync', log, () =>
      Promise.all(deps.sources.map((s) => s.release?.(key, signal) ?? Promise.resolve())),
    );
    deps.metrics.forget(key);
    deps.memory?.forget(key);
    return {};
  }

  const started = deps.clock.now();
  const seconds = () => (deps.clock.now() - started) / 1000;
  let done: Synced | Kept | Settled;
  try {
    done = await syncOnce(request, sync, deps, log, signal, startup);
  } catch (err) {
    const error = isSyncError(err) ? err : wrap('KubernetesApiError', 'syncing', err, log);
    // A cancelled run (shutdown, lost leadership) is not the SecretSync's failure: report nothing.
    if (!signal.aborted) await reportFailure(sync, error, deps, log, signal, pending !== undefined);
    deps.metrics.observeSync(error.reason, seconds());
    throw error;
  }

  if ('settled' in done) {
    deps.metrics.observeSync('Unchanged', seconds());
    return done.requeueAfterMs === undefined ? { reachedDependencies: true } : { requeueAfterMs: done.requeueAfterMs };
  }
  // Whatever the force-sync annotation holds now has been handled: read fresh, or (CreatedOnce) ignored.
  const forceSync = forceSyncToken(sync);
  const now = deps.clock.now();
  const status =
    'kept' in done
      ? keptStatus(sync, { ...done, forceSync }, now)
      : successStatus(sync, { ...done, wrote: done.write !== 'unchanged', forceSync }, now);
  const lane = deps.statusLane;
  if (!sameStatus(status, sync.status) || (pending !== undefined && lane?.queued(key) !== true)) {
    // A push's status waits behind the Secret writes of the rest of the push; once a key has a
    // status in the lane, its later ones follow it there, so they are written in order.
    if (lane !== undefined && (request.priority === Priority.Push || pending !== undefined)) lane.submit(key, status);
    else
      await guard('KubernetesApiError', 'writing SecretSync status', log, () =>
        deps.status.patchStatus(sync, status, signal),
      );
  }
  // Only with its status written (or queued behind the push) is the sync complete: an event that
  // comes later may find it settled (untouchedSinceOwnSync).
  const remembered = deps.memory?.get(key);
  if (remembered !== undefined && 'settledSecret' in done && done.settledSecret !== undefined) {
    deps.memory?.set(key, { ...remembered, secret: done.settledSecret });
  }
  const changed = !('kept' in done) && done.write !== 'unchanged';
  deps.metrics.observeSync(changed ? 'Synced' : 'Unchanged', seconds());
  // Kept by its policy is the state the SecretSync asks for: fresh, as far as it wants to be.
  deps.metrics.markFresh(key, Math.floor(now / 1000));
  if ('kept' in done) return {};
  return done.requeueAfterMs === undefined ? { reachedDependencies: true } : { requeueAfterMs: done.requeueAfterMs };
}

async function syncOnce(
  request: Request,
  sync: SecretSync,
  deps: ReconcileDeps,
  log: Logger,
  signal: AbortSignal,
  startup: boolean,
): Promise<Synced | Kept | Settled> {
  const { key } = request;
  const { settings, secrets } = deps;
  const over = deps.quota?.check(key);
  if (over !== undefined) throw over;
  checkSecretType(sync.spec.target.type, settings.allowedSecretTypes ?? []);
  const intervalMs = refreshIntervalMs(sync, settings.refresh);
  const identity = identityFor(sync, settings);
  const selected = await guard('InvalidSpec', 'checking the sources of the spec', log, () => {
    // Before any Vault read: one secretKey picked by two sources, say, is a spec error (no CEL rule
    // can afford to check it at admission).
    const problems = sourceErrors(sync.spec);
    if (problems.length > 0)
      throw new SyncError('InvalidSpec', `invalid SecretSync: ${problems.slice(0, 5).join('; ')}`);
    return Promise.resolve(selectSources(deps.sources, sync));
  });
  const name = targetName(sync);
  const decision = decideRead({
    key,
    sync,
    fresh: request.fresh,
    secret: secrets.getCached(sync.metadata.namespace, name),
    remembered: deps.memory?.get(key),
    now: deps.clock.now(),
    sourceHoldsLeases: selected.some(({ source }) => source.release !== undefined),
  });
  if (!decision.read) {
    if (forceSyncPending(sync)) {
      deps.events.record(
        sync,
        'Warning',
        'ForceSyncIgnored',
        `refresh.policy CreatedOnce keeps Secret ${name} as it is, so vaultsync.io/force-sync reads nothing; delete the Secret to have it created again from Vault`,
      );
    }
    log.debug({ secret: name, policy: decision.why }, 'Secret kept by the refresh policy');
    return { kept: decision.why, secretName: name, secret: decision.secret };
  }
  // One key for the shared read and the refresh phase: readers of a group come at the same instants.
  // With several sources the first one sets the phase.
  const phase = selected[0]?.target ?? { mount: '', path: '' };
  const group = readGroupKey(identity, phase);
  const remembered = deps.memory?.get(key);
  if (
    !decision.fresh &&
    request.priority !== Priority.Periodic &&
    !selected.some(({ source }) => source.release !== undefined) &&
    untouchedSinceOwnSync(sync, remembered, group, secrets.getCached(sync.metadata.namespace, name))
  ) {
    // Woken by an event (mostly the watch's echo of our own write, delivered before the write's
    // answer, which queued the key again while it ran), and yet the Secret is the very object this
    // process last wrote or found equal, for this spec: only Vault can have changed, and looking
    // at Vault is the refresh's and the push's job. So no read (whatever the read cache still
    // holds), no write, and the next refresh stays where the last read put it.
    const read = remembered?.read;
    const now = deps.clock.now();
    return {
      settled: true,
      requeueAfterMs: requeueAfter(
        policyOf(sync),
        refreshDelayMs(now, intervalMs, group, read?.at ?? now, read?.notBefore),
        undefined,
      ),
    };
  }
  // A startup reader may take its group's shared read up to the cache TTL old: its next refresh
  // counts from that read (below), so the data is no older at that refresh than the schedule allows.
  // So may a sync woken by an event (its own Secret write seen by the watch before the write's
  // answer, a hand edit) for a shared read no older than the one its Secret holds: never a step
  // back, and no Vault read for the echo of our own write. Not a spec change (it reads again), and
  // not a periodic refresh (an older read would make it due again at once).
  const own = remembered?.read;
  const echo =
    request.priority !== Priority.Periodic &&
    own?.group === group &&
    sync.status?.observedGeneration === sync.metadata.generation;
  const ownAgeMs = echo ? deps.clock.now() - own.at : 0;
  const maxAgeMs = Math.min(
    settings.readCacheTtlMs,
    Math.max(startup ? settings.readCacheTtlMs : readMaxAgeMs(intervalMs, settings.readCacheTtlMs), ownAgeMs),
  );
  // The readers of one push share one read made since the push (not one read each).
  const freshSince = decision.fresh && request.fresh ? request.freshSince : undefined;
  const readStarted = deps.clock.now();
  // Items are read side by side; the coalescing reader shares what several SecretSyncs read alike.
  const reads = await Promise.all(
    selected.map(({ item, index, field, source, target }) =>
      guard('VaultUnavailable', `reading ${field} (${target.mount}/${target.path})`, log, () =>
        source.read(
          {
            sync,
            item,
            index,
            identity,
            target,
            fresh: decision.fresh,
            ...(freshSince === undefined ? {} : { freshSince }),
            maxAgeMs,
            priority: VAULT_PRIORITY[request.priority],
          },
          signal,
        ),
      ),
    ),
  );
  // The next slot counts from the oldest data read, so the SecretSyncs that shared one read come
  // due together however far apart they finished.
  const readAt = Math.min(readStarted, ...reads.map((r) => r.readAt ?? readStarted));
  // A startup read's first refresh waits for an interval after the initial list (timing.ts); a
  // later sync that used that same read (an event) keeps that slot rather than an earlier one.
  const listedAt = startup ? deps.initialListAt?.() : undefined;
  const notBefore =
    listedAt !== undefined
      ? startupRefreshNotBefore(listedAt, intervalMs)
      : own !== undefined && readAt <= own.at
        ? own.notBefore
        : undefined;
  const periodic = refreshDelayMs(deps.clock.now(), intervalMs, group, readAt, notBefore);
  // Under OnChange a source's refreshWithinMs (a lease to renew) still brings the key back: the hook
  // for sources that hold leases (decideRead reads again once it is due).
  const refreshWithinMs = Math.min(...reads.map((r) => r.refreshWithinMs ?? Infinity));
  const requeueAfterMs = requeueAfter(
    policyOf(sync),
    periodic,
    Number.isFinite(refreshWithinMs) ? refreshWithinMs : undefined,
  );
  const versions = reads.map((r) => r.version);

  const { desired, nonEnvVarKeys } = await guard('BadVaultData', 'rendering the Secret', log, async () => {
    const rendered = await renderSources(
      reads.map((read, i) => {
        const { item, field, target } = selected[i] ?? { item: {}, field: '', target: { mount: '', path: '' } };
        return { item, field, data: read.data, where: `${target.mount}/${target.path} version ${read.version}` };
      }),
      { template: sync.spec.template, type: sync.spec.target.type },
    );
    const secret = desiredSecret(sync, rendered.data, versions, settings.hashKey);
    checkSecretSize(secret);
    return { desired: secret, nonEnvVarKeys: rendered.nonEnvVarKeys };
  });

  const before = secrets.getCached(sync.metadata.namespace, name);
  const { write, resourceVersion } = await guard('KubernetesApiError', `writing Secret ${name}`, log, () =>
    applySecret(key, desired, secrets, signal),
  );
  const digest = secrets.digestData(desired.data);
  const memory: Remembered = {
    dataDigest: digest,
    read: { group, at: readAt, ...(notBefore === undefined ? {} : { notBefore }) },
    ...(Number.isFinite(refreshWithinMs) ? { dueAt: deps.clock.now() + refreshWithinMs } : {}),
  };
  deps.memory?.set(key, memory);
  // Only a change of data restarts consumers: not a Secret created over nothing, not a metadata-only
  // update, not a refresh that found the same values.
  if ((write === 'updated' || write === 'replaced') && before !== undefined && before.dataDigest !== digest) {
    deps.restarts?.noteChange(sync, digest);
  }
  // Earlier targets go only once the current one is in place, so a failure never leaves no Secret.
  await guard('KubernetesApiError', 'deleting Secrets of earlier targets', log, () =>
    deleteOwnedSecrets(key, secrets, log, signal, name),
  );

  if (write !== 'unchanged') {
    log.info({ secret: name, vaultVersions: versions, write }, 'Secret written');
    deps.events.record(sync, 'Normal', 'Synced', `${WRITTEN[write]} Secret ${name} from ${describeVersions(versions)}`);
    // Once per change of the Secret, not on every refresh.
    if (nonEnvVarKeys.length > 0) {
      deps.events.record(
        sync,
        'Warning',
        'KeysNotEnvVarNames',
        `Secret ${name} has keys that are not environment variable names (${nonEnvVarKeys.join(', ')}); envFrom may skip them: mount the Secret as a volume or rename them with spec.data`,
      );
    }
  } else {
    log.debug({ secret: name, vaultVersions: versions }, 'Secret matches Vault');
  }
  const notAfters = reads.flatMap((r) => (r.notAfter === undefined ? [] : [r.notAfter]));
  return {
    secretName: name,
    versions,
    write,
    requeueAfterMs,
    ...(notAfters.length === 0 ? {} : { notAfter: Math.min(...notAfters) }),
    // The Secret is all this spec asks for (earlier targets gone).
    ...(resourceVersion === undefined
      ? {}
      : { settledSecret: { name, resourceVersion, generation: sync.metadata.generation } }),
  };
}

/**
 * Whether the target Secret is, to the resourceVersion, the one this process last wrote or found
 * equal for the SecretSync's current generation, read for `group`, and the status says so (Ready for
 * that generation: a sync whose status write failed is not settled). A hand edit, a deletion, a new
 * spec or a force-sync all fail it.
 */
function untouchedSinceOwnSync(
  sync: SecretSync,
  remembered: Remembered | undefined,
  group: string,
  cached: StoredSecret | undefined,
): boolean {
  const own = remembered?.secret;
  if (own === undefined || remembered?.read?.group !== group || remembered.dueAt !== undefined) return false;
  const ready = sync.status?.conditions?.find((c) => c.type === READY);
  return (
    own.generation === sync.metadata.generation &&
    sync.status?.observedGeneration === sync.metadata.generation &&
    ready?.status === 'True' &&
    !forceSyncPending(sync) &&
    cached !== undefined &&
    cached.metadata.name === own.name &&
    cached.metadata.resourceVersion === own.resourceVersion
  );
}

/** A type outside the safe built-ins only if the operator listed it: a tenant must not be able to have
 *  the controller write, say, a Helm release Secret that its own RBAC would not let it write. */
function checkSecretType(type: string, allowed: readonly string[]): void {
  const safe: readonly string[] = SAFE_SECRET_TYPES;
  if (safe.includes(type) || allowed.includes(type)) return;
  throw new SyncError(
    'InvalidSpec',
    `spec.target.type ${JSON.stringify(type)} is not allowed: use one of ${SAFE_SECRET_TYPES.join(', ')}, or ask the platform team to add it to --allowed-secret-types`,
  );
}

const WRITTEN: Record<Exclude<WriteResult, 'unchanged'>, string> = {
  created: 'Created',
  updated: 'Updated',
  replaced: 'Replaced (immutable: deleted and created again)',
};

/** Ready=False (when it changed) and a Warning event. A failed status write is logged, not raised:
 *  the sync's own error is what the queue must back off on. */
async function reportFailure(
  sync: SecretSync,
  error: SyncError,
  deps: ReconcileDeps,
  log: Logger,
  signal: AbortSignal,
  inLane: boolean,
): Promise<void> {
  // Logged once, by the runner that decides the retry.
  deps.events.record(sync, 'Warning', error.reason, error.message);
  const status = failureStatus(sync, error, deps.clock.now());
  if (sameStatus(status, sync.status) && !inLane) return;
  if (inLane && deps.statusLane !== undefined) {
    deps.statusLane.submit(keyOf(sync), status); // after the status waiting there, not before it
    return;
  }
  try {
    await deps.status.patchStatus(sync, status, signal);
  } catch (err) {
    log.warn(
      { reason: isSyncError(err) ? err.reason : undefined, ...describeError(err) },
      'could not write failure status',
    );
  }
}

/**
 * Runs one dependency call. SyncErrors pass through (their messages are written to be shown);
 * anything else is wrapped under `reason` with a generic message, since its text might quote
 * secret material. The original stays as `cause`; the log gets its type and stack frames only.
 */
async function guard<T>(reason: Reason, doing: string, log: Logger, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw isSyncError(err) ? err : wrap(reason, doing, err, log);
  }
}

function wrap(reason: Reason, doing: string, err: unknown, log: Logger): SyncError {
  log.error({ doing, ...describeError(err) }, 'unexpected error');
  return new SyncError(reason, `unexpected error while ${doing}; details are in the controller log`, { cause: err });
}
