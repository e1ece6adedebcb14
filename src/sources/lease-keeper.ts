import type { Clock, Key, Logger } from '../core/types.js';
import { isSyncError } from '../errors.js';
import type { VaultIdentity, VaultLeases } from '../vault/types.js';
import type { HeldSecret, LeaseRecord, LeaseRecordStore, RetiringLease } from './lease-record.js';
import { afterRenewal, MIN_LOOK_MS, reissueAt, renewDelayMs, renewsFurther } from './lease-timing.js';

/** What a dynamic source issued, before the keeper adds its bookkeeping. */
export type Issued = Omit<HeldSecret, 'fingerprint' | 'identity' | 'generation' | 'issuedAt'>;

export interface Want {
  key: Key;
  uid: string;
  /** This source item's slot (its index in the spec). */
  slot: string;
  /** Slots the SecretSync's spec still has for dynamic sources; held ones outside it are retired. */
  liveSlots: ReadonlySet<string>;
  identity: VaultIdentity;
  /** Identity, kind and parameters: a different fingerprint issues new credentials. */
  fingerprint: string;
  tenant: string;
  priority: number;
  /** Mints new credentials (one Vault request); the keeper records and renews them. */
  issue: (signal: AbortSignal) => Promise<Issued>;
}

export interface Obtained {
  data: Record<string, string>;
  generation: number;
  refreshWithinMs: number;
  /** End of what is held (a certificate's notAfter), ms since the epoch. */
  expiresAt: number;
}

export interface LeaseKeeperDeps {
  vault: VaultLeases;
  records: LeaseRecordStore;
  clock: Clock;
  log: Logger;
  /** How long a replaced lease stays valid, so consumers can switch (--lease-revoke-grace). */
  revokeGraceMs: number;
  rand?: () => number;
}

/**
 * Holds the leases of the dynamic sources: renews them at about 2/3 of what Vault granted, issues
 * new credentials before the hard limit, revokes replaced ones after a grace period and everything
 * a deleted SecretSync held. Every change of what is held is written to the record store before
 * the values are handed to rendering, so the Secret never holds credentials no record knows of;
 * a crash between Vault's answer and that write leaves a lease that Vault's own TTL ends.
 * One key at a time (a lock per key); records are loaded once per process.
 */
export class LeaseKeeper {
  readonly #deps: LeaseKeeperDeps;
  readonly #rand: () => number;
  #records: Map<Key, LeaseRecord> | undefined;
  #loading: Promise<Map<Key, LeaseRecord>> | undefined;
  /** When each held lease is renewed next (memory only: after a restart, at the first look). */
  readonly #renewAt = new Map<string, number>();
  readonly #locks = new Map<Key, Promise<unknown>>();

  constructor(deps: LeaseKeeperDeps) {
    this.#deps = deps;
    this.#rand = deps.rand ?? Math.random;
  }

  /** The held values of a slot, renewed or issued anew as due. Throws SyncError. */
  obtain(want: Want, signal: AbortSignal): Promise<Obtained> {
    return this.#locked(want.key, () => this.#obtain(want, signal));
  }

  /** Revokes everything held for `key` (its SecretSync is gone). Failures stay for the sweep; never throws. */
  release(key: Key, signal: AbortSignal): Promise<void> {
    return this.#locked(key, async () => {
      const records = await this.#load(signal);
      const rec = records.get(key);
      if (rec !== undefined) await this.#releaseRecord(rec, signal);
    });
  }

  /**
   * Revokes what records of SecretSyncs no longer live hold (deleted while no controller ran), retires
   * slots a live SecretSync no longer has (its dynamic items removed), and revokes replaced leases
   * whose grace has passed. `slotsOf` gives the live SecretSync's dynamic slots, or undefined when no
   * SecretSync of that key and uid exists. Run when the workers start and then periodically.
   */
  async sweep(
    slotsOf: (key: Key, uid: string) => ReadonlySet<string> | undefined,
    signal: AbortSignal,
  ): Promise<{ released: number; looks: { key: Key; withinMs: number }[] }> {
    const records = await this.#load(signal);
    let released = 0;
    const looks: { key: Key; withinMs: number }[] = [];
    for (const key of [...records.keys()]) {
      await this.#locked(key, async () => {
        const rec = records.get(key);
        if (rec === undefined) return;
        const live = slotsOf(rec.key, rec.uid);
        if (live === undefined) {
          released += 1;
          await this.#releaseRecord(rec, signal);
          return;
        }
        const now = this.#deps.clock.now();
        const tenant = key.slice(0, key.indexOf('/'));
        let dirty = false;
        for (const [slot, held] of Object.entries(rec.slots)) {
          if (live.has(slot)) continue;
          if (held.leaseId !== '') rec.retiring.push(this.#retire(held, tenant, now));
          rec.slots = without(rec.slots, slot);
          dirty = true;
        }
        if ((await this.#revokeDue(rec, signal)) || dirty) await this.#putQuietly(rec, signal);
        const leased = Object.values(rec.slots).filter((h) => h.leaseId !== '');
        if (leased.length > 0) {
          const soonest = Math.min(...leased.map((h) => h.durationMs / RECOVERY_FRACTION), RECOVERY_SPREAD_MS);
          looks.push({ key, withinMs: Math.floor(soonest * this.#rand()) });
        }
      });
    }
    return { released, looks };
  }

  /** Leases held or retiring, for metrics and tests. */
  counts(): { held: number; retiring: number } {
    let held = 0;
    let retiring = 0;
    for (const rec of this.#records?.values() ?? []) {
      held += Object.values(rec.slots).filter((h) => h.leaseId !== '').length;
      retiring += rec.retiring.length;
    }
    return { held, retiring };
  }

  async #obtain(want: Want, signal: AbortSignal): Promise<Obtained> {
    const now = this.#deps.clock.now();
    const records = await this.#load(signal);
    // Worked on as a copy: if anything below fails, what is held stays as it was (a failed re-issue
    // must not leave the current lease marked for revocation).
    const stored = records.get(want.key);
    let rec = stored === undefined ? undefined : structuredClone(stored);
    let dirty = false;
    if (rec === undefined || rec.uid !== want.uid) {
      // What a SecretSync of the same name but another uid held goes now: it belongs to a deleted one.
      const retiring = rec === undefined ? [] : [...rec.retiring, ...retireAll(rec, now, 0)];
      rec = { key: want.key, uid: want.uid, slots: {}, retiring };
      dirty = true;
    }
    for (const [slot, held] of Object.entries(rec.slots)) {
      if (want.liveSlots.has(slot) && (slot !== want.slot || held.fingerprint === want.fingerprint)) continue;
      rec.retiring.push(this.#retire(held, want.tenant, now));
      rec.slots = without(rec.slots, slot);
      dirty = true;
    }

    let held = rec.slots[want.slot];
    const generation = held?.generation ?? 0;
    if (held !== undefined && renewsFurther(held) && now >= (this.#renewAt.get(slotKey(want)) ?? 0)) {
      held = await this.#renew(want, held, signal);
      if (held === undefined) {
        rec.slots = without(rec.slots, want.slot);
        dirty = true;
      } else rec.slots[want.slot] = held;
    }
    let issued: HeldSecret | undefined;
    if (held !== undefined && now >= reissueAt(held)) {
      if (held.leaseId !== '') rec.retiring.push(this.#retire(held, want.tenant, now));
      held = undefined;
    }
    if (held === undefined) {
      const fresh = await want.issue(signal);
      issued = {
        ...fresh,
        fingerprint: want.fingerprint,
        identity: want.identity,
        generation: generation + 1,
        issuedAt: now,
      };
      held = issued;
      rec.slots[want.slot] = issued;
      if (issued.leaseId !== '') this.#renewAt.set(slotKey(want), now + renewDelayMs(issued.durationMs, this.#rand));
      this.#deps.log.info(
        { secretsync: want.key, slot: want.slot, generation: issued.generation },
        'issued new credentials',
      );
      dirty = true;
    }
    if (await this.#revokeDue(rec, signal)) dirty = true;
    if (dirty) {
      try {
        await this.#put(rec, signal);
      } catch (err) {
        // No record, no Secret: the new lease is revoked now rather than left to its TTL.
        if (issued !== undefined && issued.leaseId !== '')
          await this.#tryRevoke(issued.identity, want.tenant, issued.leaseId, signal);
        throw err;
      }
    }
    records.set(want.key, rec);
    return {
      data: held.data,
      generation: held.generation,
      expiresAt: held.hardExpiresAt ?? held.expiresAt,
      refreshWithinMs: this.#nextLookMs(rec, held, slotKey(want), now),
    };
  }

  /** Renews; the renewed secret, or undefined when Vault no longer holds the lease (revoked behind our back, expired). */
  async #renew(want: Want, held: HeldSecret, signal: AbortSignal): Promise<HeldSecret | undefined> {
    const ctx = { identity: held.identity, tenant: want.tenant, priority: want.priority };
    const answer = await this.#deps.vault.renew(
      { ...ctx, leaseId: held.leaseId, incrementSeconds: Math.round(held.durationMs / 1000) },
      signal,
    );
    const now = this.#deps.clock.now();
    if (answer === 'gone') {
      this.#deps.log.warn(
        { secretsync: want.key, slot: want.slot },
        'Vault no longer holds the lease; issuing new credentials',
      );
      return undefined;
    }
    const renewed = afterRenewal(held, now, answer.leaseDurationSeconds, answer.renewable);
    this.#renewAt.set(slotKey(want), now + renewDelayMs(answer.leaseDurationSeconds * 1000, this.#rand));
    return renewed;
  }

  #retire(held: HeldSecret, tenant: string, now: number): RetiringLease {
    const expiresAt = held.hardExpiresAt ?? held.expiresAt;
    return {
      leaseId: held.leaseId,
      identity: held.identity,
      tenant,
      revokeAt: Math.min(now + this.#deps.revokeGraceMs, expiresAt),
      expiresAt,
    };
  }

  /** Revokes retiring leases whose time has come; true if the record changed. */
  async #revokeDue(rec: LeaseRecord, signal: AbortSignal): Promise<boolean> {
    const now = this.#deps.clock.now();
    const before = rec.retiring.length;
    const kept: RetiringLease[] = [];
    for (const r of rec.retiring) {
      if (r.leaseId === '' || r.expiresAt <= now) continue;
      if (r.revokeAt > now || !(await this.#tryRevoke(r.identity, r.tenant, r.leaseId, signal))) kept.push(r);
    }
    rec.retiring = kept;
    return kept.length !== before;
  }

  async #tryRevoke(identity: VaultIdentity, tenant: string, leaseId: string, signal: AbortSignal): Promise<boolean> {
    try {
      await this.#deps.vault.revoke({ identity, tenant, leaseId }, signal);
      return true;
    } catch (err) {
      this.#deps.log.warn(
        {
          tenant,
          reason: isSyncError(err) ? err.reason : 'unexpected',
          message: isSyncError(err) ? err.message : undefined,
        },
        'could not revoke a lease; will retry',
      );
      return false;
    }
  }

  async #releaseRecord(rec: LeaseRecord, signal: AbortSignal): Promise<void> {
    const now = this.#deps.clock.now();
    rec.retiring = [...rec.retiring, ...retireAll(rec, now, 0)].map((r) => ({ ...r, revokeAt: now }));
    rec.slots = {};
    await this.#revokeDue(rec, signal);
    if (rec.retiring.length > 0) {
      await this.#putQuietly(rec, signal);
      return;
    }
    try {
      await this.#deps.records.delete(rec.key, signal);
      this.#records?.delete(rec.key);
    } catch (err) {
      this.#warnRecord(rec.key, err);
    }
  }

  /** Writes a record the sweep will look at again anyway: a failure is logged, not raised. */
  async #putQuietly(rec: LeaseRecord, signal: AbortSignal): Promise<void> {
    try {
      await this.#put(rec, signal);
    } catch (err) {
      this.#warnRecord(rec.key, err);
    }
  }

  #warnRecord(key: Key, err: unknown): void {
    this.#deps.log.warn(
      { secretsync: key, reason: isSyncError(err) ? err.reason : 'unexpected' },
      'could not update a lease record; the sweep retries',
    );
  }

  #nextLookMs(rec: LeaseRecord, held: HeldSecret, slot: string, now: number): number {
    let next = reissueAt(held);
    if (renewsFurther(held)) next = Math.min(next, this.#renewAt.get(slot) ?? now);
    for (const r of rec.retiring) next = Math.min(next, r.revokeAt);
    return Math.max(MIN_LOOK_MS, next - now);
  }

  async #put(rec: LeaseRecord, signal: AbortSignal): Promise<void> {
    await this.#deps.records.put(rec, signal);
    this.#records?.set(rec.key, rec);
  }

  /** The records, listed once; a failed list is tried again at the next call. */
  #load(signal: AbortSignal): Promise<Map<Key, LeaseRecord>> {
    this.#loading ??= this.#deps.records.list(signal).then(
      (list) => {
        this.#records = new Map(list.map((r) => [r.key, r]));
        this.#deps.log.info({ records: list.length }, 'lease records loaded');
        return this.#records;
      },
      (err: unknown) => {
        this.#loading = undefined;
        throw err;
      },
    );
    return this.#loading;
  }

  async #locked<T>(key: Key, fn: () => Promise<T>): Promise<T> {
    const previous = this.#locks.get(key) ?? Promise.resolve();
    const run = previous.then(fn, fn);
    const tail = run.catch(() => undefined);
    this.#locks.set(key, tail);
    try {
      return await run;
    } finally {
      if (this.#locks.get(key) === tail) this.#locks.delete(key);
    }
  }
}

const without = <T>(map: Record<string, T>, slot: string): Record<string, T> =>
  Object.fromEntries(Object.entries(map).filter(([s]) => s !== slot));

const slotKey = (want: Pick<Want, 'key' | 'slot'>): string => `${want.key}#${want.slot}`;

function retireAll(rec: LeaseRecord, now: number, graceMs: number): RetiringLease[] {
  return Object.values(rec.slots)
    .filter((h) => h.leaseId !== '')
    .map((h) => ({
      leaseId: h.leaseId,
      identity: h.identity,
      tenant: rec.key.slice(0, rec.key.indexOf('/')),
      revokeAt: now + graceMs,
      expiresAt: h.hardExpiresAt ?? h.expiresAt,
    }));
}

/**
 * After a start, a SecretSync holding leases is looked at within a sixth of its lease duration (at
 * most a minute, spread at random): its refresh interval may be far longer than what is left of the
 * lease, which its first look renews.
 */
export const RECOVERY_FRACTION = 6;
export const RECOVERY_SPREAD_MS = 60_000;

/** How often the leader sweeps lease records (what failed to revoke is retried then). */
export const SWEEP_INTERVAL_MS = 5 * 60_000;

/** Sweeps now (the workers just started) and every SWEEP_INTERVAL_MS until `signal` aborts. */
export function startLeaseSweeps(
  keeper: LeaseKeeper,
  slotsOf: (key: Key, uid: string) => ReadonlySet<string> | undefined,
  look: (key: Key, withinMs: number) => void,
  signal: AbortSignal,
  log: Logger,
): void {
  let first = true;
  const sweep = (): void => {
    keeper.sweep(slotsOf, signal).then(
      ({ released, looks }) => {
        if (released > 0) log.info({ released }, 'revoked the leases of SecretSyncs deleted meanwhile');
        // Only after a start: later, each SecretSync's own schedule already follows its leases.
        if (first) for (const l of looks) look(l.key, l.withinMs);
        first = false;
      },
      (err: unknown) => {
        if (!signal.aborted)
          log.warn({ reason: isSyncError(err) ? err.reason : 'unexpected' }, 'lease sweep failed; will retry');
      },
    );
  };
  sweep();
  const timer = setInterval(sweep, SWEEP_INTERVAL_MS);
  timer.unref();
  signal.addEventListener('abort', () => clearInterval(timer), { once: true });
}
