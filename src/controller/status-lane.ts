import type { SecretSyncStatus } from '../api/index.js';
import type { Key, Logger } from '../core/types.js';
import { isSyncError } from '../errors.js';
import { describeError } from './classify.js';
import type { SecretSyncLister, StatusWriter } from './types.js';

export interface StatusLaneDeps {
  syncs: SecretSyncLister;
  status: StatusWriter;
  log: Logger;
  /** A status could not be written: look at the key again (the queue's backoff), which hands the
   *  status to the lane again (reconcile computes it from pending()). */
  onFailed: (key: Key) => void;
  /**
   * Resolves when the pushes being worked on have written their Secrets (or after a bound, so a
   * stream of pushes cannot hold statuses back for ever). Absent: statuses go at once, behind only
   * the Secret writes already waiting for the write budget.
   */
  afterPushes?: () => Promise<void>;
}

interface Entry {
  status: SecretSyncStatus;
  /** The last attempt to write it failed; a reconcile hands it over again. */
  failed: boolean;
}

/**
 * Status writes taken off the worker's path, for pushes: the workers write a push's Secrets one after
 * another and hand each status here, where it waits until the push's Secret writes are done
 * (`afterPushes`), then behind any Secret write waiting in the write budget (`background`): a
 * status write takes as long at the API server as a Secret write, so a push's last Secret would
 * otherwise wait for the statuses of the first ones. Per SecretSync one write at a time and the
 * latest status wins, so the status that ends up written is the last one computed. Until it is written, reconcile computes from pending()
 * (as if it were written), so a refresh in between neither loses lastSyncTime nor writes twice.
 */
export class StatusLane {
  readonly #deps: StatusLaneDeps;
  readonly #entries = new Map<Key, Entry>();
  readonly #writing = new Set<Key>();
  readonly #abort = new AbortController();
  /** One wait for the pushes shared by every status held now. */
  #gate: Promise<void> | undefined;

  constructor(deps: StatusLaneDeps) {
    this.#deps = deps;
  }

  /** Queues `status` for `key`, replacing any not yet written. */
  submit(key: Key, status: SecretSyncStatus): void {
    if (this.#closed()) return;
    this.#entries.set(key, { status, failed: false });
    if (!this.#writing.has(key)) void this.#write(key);
  }

  /** The status waiting for `key` (written soon, or failed and waiting for a reconcile). */
  pending(key: Key): SecretSyncStatus | undefined {
    return this.#entries.get(key)?.status;
  }

  /** Whether a status for `key` waits here and was not attempted and failed: it needs no resubmit. */
  queued(key: Key): boolean {
    const entry = this.#entries.get(key);
    return entry !== undefined && !entry.failed;
  }

  /** Statuses waiting or being written. */
  get size(): number {
    return this.#entries.size;
  }

  /** Drops what waits and aborts writes in flight (the workers stopped; a new leader recomputes). */
  close(): void {
    this.#abort.abort();
    this.#entries.clear();
  }

  #afterPushes(): Promise<void> {
    const wait = this.#deps.afterPushes;
    if (wait === undefined) return Promise.resolve();
    this.#gate ??= wait().finally(() => {
      this.#gate = undefined;
    });
    return this.#gate;
  }

  #closed(): boolean {
    return this.#abort.signal.aborted;
  }

  async #write(key: Key): Promise<void> {
    this.#writing.add(key);
    try {
      for (;;) {
        await this.#afterPushes();
        const entry = this.#entries.get(key);
        if (entry === undefined || entry.failed || this.#closed()) return;
        const sync = this.#deps.syncs.get(key);
        if (sync === undefined) {
          this.#entries.delete(key); // deleted meanwhile: no status left to write
          return;
        }
        try {
          await this.#deps.status.patchStatus(sync, entry.status, this.#abort.signal, { background: true });
        } catch (err) {
          if (this.#closed()) return;
          // A newer status came meanwhile: write that one instead.
          if (this.#entries.get(key) !== entry) continue;
          entry.failed = true;
          this.#deps.log.warn(
            { secretsync: key, reason: isSyncError(err) ? err.reason : undefined, ...describeError(err) },
            'could not write status; retrying the SecretSync',
          );
          this.#deps.onFailed(key);
          return;
        }
        if (this.#entries.get(key) === entry) this.#entries.delete(key);
      }
    } finally {
      this.#writing.delete(key);
    }
  }
}
