import { parseDuration, type SecretSync } from '../api/index.js';
import type { Config } from '../config.js';
import { SyncError, isSyncError, type Reason } from '../errors.js';
import { applySecret, type WriteResult } from './apply.js';
import { deleteOwnedSecrets } from './cleanup.js';
import { desiredSecret, targetName } from './desired.js';
import { identityFor, type IdentityDefaults } from './identity.js';
import { readGroupKey, readMaxAgeMs, refreshDelayMs } from './refresh.js';
import { checkSecretSize, renderData } from './render.js';
import { failureStatus, sameStatus, successStatus } from './status.js';
import type {
  Clock,
  EventRecorder,
  Key,
  Logger,
  ManagedSecretIndex,
  SecretStore,
  SecretSyncLister,
  StatusWriter,
  SyncMetrics,
  VaultReader,
} from './types.js';

/** What reconcile needs from Config, plus the HMAC key and the push-refresh signal. */
export interface ReconcileSettings extends IdentityDefaults {
  refresh: { defaultMs: number; minMs: number };
  /** Key of the content HMAC (HASH_ANNOTATION). */
  hashKey: Buffer;
  /**
   * Whether this key's Vault read must bypass the read cache because a push (webhook) asked for it.
   * The scheduler owns the flag: it sets it when the webhook enqueues the key and clears it once a
   * reconcile of the key has returned without error. reconcile only asks, so a retry after a failed
   * pushed sync still reads fresh.
   */
  isFresh(key: Key): boolean;
  /** Upper bound of how long a Vault read is shared (the reader's cache TTL). */
  readCacheTtlMs: number;
  /** Priority of this key's Vault requests, higher first: pushed and new SecretSyncs before periodic ones. */
  vaultPriority(key: Key): number;
}

export interface ReconcileDeps {
  syncs: SecretSyncLister;
  secrets: SecretStore & ManagedSecretIndex;
  vault: VaultReader;
  status: StatusWriter;
  events: EventRecorder;
  clock: Clock;
  log: Logger;
  metrics: SyncMetrics;
  settings: ReconcileSettings;
}

export function reconcileSettings(
  config: Config,
  hashKey: Buffer,
  isFresh: (key: Key) => boolean,
  vaultPriority: (key: Key) => number = () => 0,
): ReconcileSettings {
  const { address, caBundle, vaultNamespace, authMount } = config.vault;
  return {
    vault: { address, caBundle, vaultNamespace, authMount },
    tokenAudiences: config.auth.tokenAudiences,
    allowControllerIdentity: config.auth.allowControllerIdentity,
    refresh: { ...config.refresh },
    hashKey,
    isFresh,
    readCacheTtlMs: config.vault.readCacheTtlMs,
    vaultPriority,
  };
}

interface Synced {
  secretName: string;
  vaultVersion: number;
  write: WriteResult;
  requeueAfterMs: number;
}

/** Makes the Secret of one SecretSync match Vault. Safe to call any number of times.
 *  Throws SyncError (retried with backoff unless `terminal`); returns when to look again. */
export async function reconcile(
  key: Key,
  deps: ReconcileDeps,
  signal: AbortSignal,
): Promise<{ requeueAfterMs?: number; spread?: boolean }> {
  const log = deps.log.child({ secretsync: key });
  const sync = deps.syncs.get(key);
  if (sync === undefined || sync.metadata.deletionTimestamp !== undefined) {
    await guard('KubernetesApiError', 'deleting the Secrets of a deleted SecretSync', log, () =>
      deleteOwnedSecrets(key, deps.secrets, log, signal),
    );
    deps.metrics.forget(key);
    return {};
  }

  const started = deps.clock.now();
  const seconds = () => (deps.clock.now() - started) / 1000;
  let done: Synced;
  try {
    done = await syncOnce(key, sync, deps, log, signal);
  } catch (err) {
    const error = isSyncError(err) ? err : wrap('KubernetesApiError', 'syncing', err, log);
    // A cancelled run (shutdown, lost leadership) is not the SecretSync's failure: report nothing.
    if (!signal.aborted) await reportFailure(sync, error, deps, log, signal);
    deps.metrics.observeSync(error.reason, seconds());
    throw error;
  }

  const status = successStatus(sync, { ...done, wrote: done.write !== 'unchanged' }, deps.clock.now());
  if (!sameStatus(status, sync.status)) {
    await guard('KubernetesApiError', 'writing SecretSync status', log, () =>
      deps.status.patchStatus(sync, status, signal),
    );
  }
  deps.metrics.observeSync(done.write === 'unchanged' ? 'Unchanged' : 'Synced', seconds());
  deps.metrics.markFresh(key, Math.floor(deps.clock.now() / 1000));
  return { requeueAfterMs: done.requeueAfterMs, spread: true };
}

async function syncOnce(
  key: Key,
  sync: SecretSync,
  deps: ReconcileDeps,
  log: Logger,
  signal: AbortSignal,
): Promise<Synced> {
  const { settings, secrets } = deps;
  const intervalMs = refreshIntervalMs(sync, settings.refresh);
  const identity = identityFor(sync, settings);
  const { mount, path, version } = sync.spec.vault.kv;
  const group = readGroupKey(identity, mount, path, version);
  const kv = await guard('VaultUnavailable', `reading Vault secret ${mount}/${path}`, log, () =>
    deps.vault.readKv(
      {
        identity,
        mount,
        path,
        version,
        fresh: settings.isFresh(key),
        maxAgeMs: readMaxAgeMs(intervalMs, settings.readCacheTtlMs),
        priority: settings.vaultPriority(key),
      },
      signal,
    ),
  );
  const requeueAfterMs = refreshDelayMs(deps.clock.now(), intervalMs, group);

  const where = `${mount}/${path} version ${kv.version}`;
  const { desired, nonEnvVarKeys } = await guard('BadVaultData', `rendering Vault secret ${where}`, log, () => {
    const rendered = renderData(sync.spec.data, kv.data, where);
    const secret = desiredSecret(sync, rendered.data, kv.version, settings.hashKey);
    checkSecretSize(secret);
    return Promise.resolve({ desired: secret, nonEnvVarKeys: rendered.nonEnvVarKeys });
  });

  const name = targetName(sync);
  const write = await guard('KubernetesApiError', `writing Secret ${name}`, log, () =>
    applySecret(key, desired, secrets, signal),
  );
  // Earlier targets go only once the current one is in place, so a failure never leaves no Secret.
  await guard('KubernetesApiError', 'deleting Secrets of earlier targets', log, () =>
    deleteOwnedSecrets(key, secrets, log, signal, name),
  );

  if (write !== 'unchanged') {
    log.info({ secret: name, vaultVersion: kv.version, write }, 'Secret written');
    deps.events.record(sync, 'Normal', 'Synced', `${WRITTEN[write]} Secret ${name} from Vault version ${kv.version}`);
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
    log.debug({ secret: name, vaultVersion: kv.version }, 'Secret matches Vault');
  }
  return { secretName: name, vaultVersion: kv.version, write, requeueAfterMs };
}

const WRITTEN: Record<Exclude<WriteResult, 'unchanged'>, string> = {
  created: 'Created',
  updated: 'Updated',
  replaced: 'Replaced (immutable: deleted and created again)',
};

function refreshIntervalMs(sync: SecretSync, refresh: ReconcileSettings['refresh']): number {
  const text = sync.spec.refresh.interval;
  if (text === undefined) return Math.max(refresh.defaultMs, refresh.minMs);
  try {
    return Math.max(parseDuration(text), refresh.minMs);
  } catch (err) {
    // The CRD admits only durations; this is a SecretSync that bypassed or predates that rule.
    throw new SyncError(
      'InvalidSpec',
      `spec.refresh.interval ${JSON.stringify(text)} is not a duration such as 30s, 15m or 1h`,
      {
        cause: err,
      },
    );
  }
}

/** Ready=False (when it changed) and a Warning event. A failed status write is logged, not raised:
 *  the sync's own error is what the queue must back off on. */
async function reportFailure(
  sync: SecretSync,
  error: SyncError,
  deps: ReconcileDeps,
  log: Logger,
  signal: AbortSignal,
): Promise<void> {
  log.warn({ reason: error.reason, terminal: error.terminal, message: error.message }, 'sync failed');
  deps.events.record(sync, 'Warning', error.reason, error.message);
  const status = failureStatus(sync, error, deps.clock.now());
  if (sameStatus(status, sync.status)) return;
  try {
    await deps.status.patchStatus(sync, status, signal);
  } catch (err) {
    log.warn({ reason: isSyncError(err) ? err.reason : undefined, ...describe(err) }, 'could not write failure status');
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
  log.error({ doing, ...describe(err) }, 'unexpected error');
  return new SyncError(reason, `unexpected error while ${doing}; details are in the controller log`, { cause: err });
}

/** The type and stack frames of an error, without its message (which may quote data). */
function describe(err: unknown): { errorType: string; frames?: string[] } {
  if (!(err instanceof Error)) return { errorType: typeof err };
  const frames = (err.stack ?? '')
    .split('\n')
    .filter((line) => line.trimStart().startsWith('at '))
    .map((line) => line.trim());
  return { errorType: err.constructor.name, frames };
}
