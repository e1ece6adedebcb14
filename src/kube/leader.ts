/**
 * Leader election on a coordination.k8s.io/v1 Lease, after client-go's leaderelection package.
 *
 * Invariants:
 * - A Lease held by another identity counts as expired only when this process has seen it
 *   unchanged (same holder and renewTime) for the lease duration on its own clock. Comparing the
 *   holder's renewTime with the local clock would let clock skew between nodes steal a live lease.
 *   An empty holderIdentity (a released lease) is free at once.
 * - The leader gives up when it has not renewed for renewDeadline (< leaseDuration), so it stops
 *   writing before any standby may take over. Every request of a renew attempt is bounded by the
 *   time left to the deadline, so a hanging API server cannot keep a stale leader writing.
 * - Seeing the Lease held by someone else ends leadership at once, without waiting for the deadline.
 * - Every write carries the resourceVersion it was based on: of two candidates, one wins and the
 *   other gets 409 and tries again after the retry period.
 */
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Clock, Logger } from '../core/types.js';
import { microTime, type Lease, type LeaseClient, type LeaseMeta } from './lease-client.js';
import { apiErrorDetail, apiStatus, type CallOptions } from './request.js';

export type { LeaseClient } from './lease-client.js';

export interface LeaderElectorOptions {
  coordination: LeaseClient;
  namespace: string;
  name: string;
  /** Unique per process (see electionIdentity): two processes with one identity would both lead. */
  identity: string;
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
  log: Logger;
  clock?: Clock;
  /** For the jitter of acquire retries; Math.random by default. */
  random?: () => number;
  /** Called once when this process becomes leader. */
  onStartedLeading?: () => void;
  /** Called synchronously the moment leadership ends (lost, or released): stop writing now. */
  onStoppedLeading?: () => void;
  /** Called when another holder is first observed. */
  onNewLeader?: (identity: string) => void;
  /**
   * Annotations the holder publishes on the Lease while it leads (e.g. where its webhook listens),
   * read by the others with leaderAnnotation(). Removed when the Lease is released; a value of
   * undefined removes the key.
   */
  holderAnnotations?: Readonly<Record<string, string | undefined>>;
}

/** How run() ended: leadership was lost (restart to campaign again), or it was stopped. */
export type ElectionEnd = 'lost' | 'stopped';

type Attempt = 'ok' | 'held' | 'failed';

/** The pod name plus a random suffix, so that two processes never share an identity. */
export function electionIdentity(instance: string, random: () => Buffer = () => randomBytes(4)): string {
  return `${instance}_${random().toString('hex')}`;
}

export class LeaderElector {
  private readonly clock: Clock;
  private readonly random: () => number;
  private readonly leaseSeconds: number;
  private leading = false;
  private running: Promise<ElectionEnd> | undefined;
  private readonly stopping = new AbortController();
  /** The Lease as last read or written (its resourceVersion is the base of the next write). */
  private lease: Lease | undefined;
  /** Holder and renewTime last seen, and when (local clock) they last changed. */
  private observed: { holder: string; renewTime: string; at: number } | undefined;
  private reportedLeader: string | undefined;

  constructor(private readonly opts: LeaderElectorOptions) {
    const { leaseDurationMs: lease, renewDeadlineMs: renew, retryPeriodMs: retry } = opts;
    if (!(retry > 0 && retry < renew && renew < lease)) {
      throw new Error(
        `leader election needs 0 < retry period (${retry} ms) < renew deadline (${renew} ms) < lease duration (${lease} ms)`,
      );
    }
    if (opts.identity === '') throw new Error('leader election needs a non-empty identity');
    this.clock = opts.clock ?? { now: () => Date.now() };
    this.random = opts.random ?? Math.random;
    this.leaseSeconds = Math.max(1, Math.ceil(lease / 1000));
  }

  isLeader(): boolean {
    return this.leading;
  }

  /** The holder last seen on the Lease ('' when released, undefined before the first read). */
  leader(): string | undefined {
    return this.observed?.holder;
  }

  /**
   * An annotation the current holder published (holderAnnotations), as last read (every retry
   * period). Undefined while the Lease is released or held by this process.
   */
  leaderAnnotation(key: string): string | undefined {
    const holder = this.lease?.spec?.holderIdentity ?? '';
    if (holder === '' || holder === this.opts.identity) return undefined;
    return this.lease?.metadata?.annotations?.[key];
  }

  /**
   * Reads the Lease once, so that leaderAnnotation() is current even when this process no longer
   * campaigns (it released the Lease and drains). Errors are logged at debug and ignored.
   */
  async look(timeoutMs: number): Promise<void> {
    const { coordination, namespace, name } = this.opts;
    try {
      const lease = await coordination.readNamespacedLease({ namespace, name }, { timeoutMs });
      this.lease = lease;
      this.observe(lease, this.clock.now());
    } catch (err: unknown) {
      this.opts.log.debug({ err: apiErrorDetail(err) }, 'leader election: could not read the lease');
    }
  }

  /**
   * Campaigns until leading, renews until leadership is lost or `signal` aborts (or release() is
   * called). On abort while leading, releases the Lease so a standby takes over at once: abort
   * only after the controller has stopped writing.
   */
  run(signal: AbortSignal): Promise<ElectionEnd> {
    if (this.running !== undefined) throw new Error('LeaderElector.run may be called once');
    this.running = this.campaign(AbortSignal.any([signal, this.stopping.signal]));
    return this.running;
  }

  /** Stops campaigning and, if leading, hands the Lease back. Resolves when done. */
  async release(): Promise<void> {
    this.stopping.abort();
    await this.running;
  }

  private async campaign(signal: AbortSignal): Promise<ElectionEnd> {
    const { log, name, namespace, identity } = this.opts;
    // A function, not the property: TypeScript would narrow `signal.aborted` across the awaits.
    const stopped = () => signal.aborted;
    log.info({ lease: `${namespace}/${name}`, identity }, 'leader election: campaigning');
    let renewedAt: number;
    for (;;) {
      if (stopped()) return 'stopped';
      renewedAt = this.clock.now();
      if ((await this.attempt(this.opts.renewDeadlineMs, signal)) === 'ok') {
        if (!stopped()) break;
        // Won the lease just as we were told to stop: hand it back without ever acting on it.
        await this.giveBack();
        return 'stopped';
      }
      await pause(this.opts.retryPeriodMs * (1 + 0.2 * this.random()), signal);
    }
    this.leading = true;
    log.info({ lease: `${namespace}/${name}`, identity }, 'leader election: leading');
    this.notify(this.opts.onStartedLeading);

    for (;;) {
      const deadline = renewedAt + this.opts.renewDeadlineMs;
      await pause(Math.min(this.opts.retryPeriodMs, deadline - this.clock.now()), signal);
      if (stopped()) return this.stepDown();
      const started = this.clock.now();
      if (started >= deadline) return this.lose('could not renew the lease within the renew deadline');
      const result = await this.attempt(deadline - started, signal);
      if (result === 'ok') renewedAt = started;
      else if (result === 'held') return this.lose(`the lease is now held by ${this.observed?.holder ?? '?'}`);
      else if (stopped()) return this.stepDown();
    }
  }

  private lose(why: string): ElectionEnd {
    this.leading = false;
    this.opts.log.error({ identity: this.opts.identity, why }, 'leader election: leadership lost; stop writing');
    this.notify(this.opts.onStoppedLeading);
    return 'lost';
  }

  /** One get, then create or update. Requests are bounded by `timeoutMs` and `signal`. */
  private async attempt(timeoutMs: number, signal: AbortSignal): Promise<Attempt> {
    const { coordination, namespace, name, identity, log } = this.opts;
    const call = (): CallOptions => ({ signal, timeoutMs });
    const now = this.clock.now();
    let current: Lease | undefined;
    try {
      current = await coordination.readNamespacedLease({ namespace, name }, call());
    } catch (err: unknown) {
      if (apiStatus(err) !== 404) return this.failed('get', err, signal);
    }
    if (current === undefined) {
      try {
        this.lease = await coordination.createNamespacedLease({ namespace, body: this.record(undefined, now) }, call());
      } catch (err: unknown) {
        return this.failed('create', err, signal);
      }
      this.observe(this.lease, now);
      return 'ok';
    }
    this.lease = current;
    this.observe(current, now);
    const holder = current.spec?.holderIdentity ?? '';
    if (holder !== '' && holder !== identity && !this.expired(current, now)) return 'held';
    try {
      this.lease = await coordination.replaceNamespacedLease(
        { namespace, name, body: this.record(current, now) },
        call(),
      );
    } catch (err: unknown) {
      return this.failed('update', err, signal);
    }
    if (holder !== identity) log.info({ previous: holder || undefined }, 'leader election: took over the lease');
    this.observe(this.lease, now);
    return 'ok';
  }

  /** The Lease this identity writes: renewTime now; acquireTime and transitions move on takeover. */
  private record(current: Lease | undefined, now: number): Lease {
    const spec = current?.spec;
    const ours = spec?.holderIdentity === this.opts.identity;
    const stamp = microTime(now);
    return {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: this.annotated(current?.metadata, true),
      spec: {
        holderIdentity: this.opts.identity,
        leaseDurationSeconds: this.leaseSeconds,
        acquireTime: ours ? (spec.acquireTime ?? stamp) : stamp,
        renewTime: stamp,
        leaseTransitions: current === undefined ? 0 : (spec?.leaseTransitions ?? 0) + (ours ? 0 : 1),
      },
    };
  }

  /** Metadata with this holder's annotations set (holding) or removed (releasing). */
  private annotated(metadata: LeaseMeta | undefined, holding: boolean): LeaseMeta {
    const base: LeaseMeta = metadata ?? { name: this.opts.name, namespace: this.opts.namespace };
    const own = this.opts.holderAnnotations;
    if (own === undefined) return base;
    const annotations = Object.fromEntries(
      Object.entries(base.annotations ?? {}).filter(([k]) => !Object.hasOwn(own, k)),
    );
    if (holding) for (const [k, v] of Object.entries(own)) if (v !== undefined) annotations[k] = v;
    return { ...base, annotations };
  }

  private observe(lease: Lease, now: number): void {
    const holder = lease.spec?.holderIdentity ?? '';
    const renewTime = lease.spec?.renewTime ?? '';
    if (this.observed?.holder !== holder || this.observed.renewTime !== renewTime) {
      this.observed = { holder, renewTime, at: now };
    }
    if (holder !== '' && holder !== this.opts.identity && holder !== this.reportedLeader) {
      this.reportedLeader = holder;
      this.opts.log.info({ leader: holder }, 'leader election: another replica leads');
      this.opts.onNewLeader?.(holder);
    }
  }

  /** Unchanged, as seen here, for the longer of our lease duration and the one the holder wrote. */
  private expired(lease: Lease, now: number): boolean {
    const durationMs = Math.max(this.opts.leaseDurationMs, (lease.spec?.leaseDurationSeconds ?? 0) * 1000);
    return this.observed !== undefined && now - this.observed.at >= durationMs;
  }

  private failed(verb: string, err: unknown, signal?: AbortSignal): Attempt {
    const status = apiStatus(err);
    // 409: another candidate wrote first; that is the protocol working, not a fault. Nor is a stop.
    const level = status === 409 || signal?.aborted === true ? 'debug' : 'warn';
    this.opts.log[level]({ verb, status, err: apiErrorDetail(err) }, 'leader election: lease request failed');
    return 'failed';
  }

  /** Graceful end: stop leading, then hand the lease back. */
  private async stepDown(): Promise<ElectionEnd> {
    this.leading = false;
    this.notify(this.opts.onStoppedLeading);
    await this.giveBack();
    return 'stopped';
  }

  /**
   * Empties the holder (if still ours) so a standby takes over without waiting for expiry. A renew
   * aborted by the shutdown may still have reached the API server, so a conflict re-reads the Lease
   * and tries again (a few times at most).
   */
  private async giveBack(): Promise<void> {
    const { coordination, namespace, name, log } = this.opts;
    let lease = this.lease;
    for (let attempt = 1; attempt <= 3; attempt++) {
      if (lease?.spec?.holderIdentity !== this.opts.identity) return;
      const stamp = microTime(this.clock.now());
      const body: Lease = {
        apiVersion: 'coordination.k8s.io/v1',
        kind: 'Lease',
        metadata: this.annotated(lease.metadata, false),
        spec: {
          holderIdentity: '',
          leaseDurationSeconds: 1,
          acquireTime: stamp,
          renewTime: stamp,
          leaseTransitions: lease.spec.leaseTransitions,
        },
      };
      try {
        await coordination.replaceNamespacedLease({ namespace, name, body }, { timeoutMs: this.opts.renewDeadlineMs });
        log.info({ lease: `${namespace}/${name}` }, 'leader election: lease released');
        return;
      } catch (err: unknown) {
        // Not fatal: the standby takes over when the lease expires instead.
        this.failed('release', err);
        if (apiStatus(err) !== 409 || attempt === 3) return;
        try {
          lease = await coordination.readNamespacedLease({ namespace, name }, { timeoutMs: this.opts.renewDeadlineMs });
        } catch (readErr: unknown) {
          this.failed('read', readErr);
          return;
        }
      }
    }
  }

  private notify(fn: (() => void) | undefined): void {
    try {
      fn?.();
    } catch (err: unknown) {
      this.opts.log.error({ err: err instanceof Error ? err.message : 'unknown' }, 'leader election callback threw');
    }
  }
}

async function pause(ms: number, signal: AbortSignal): Promise<void> {
  if (ms <= 0 || signal.aborted) return;
  try {
    await sleep(ms, undefined, { signal });
  } catch (err: unknown) {
    // Aborting the wait is how stop is delivered; anything else is a real error.
    if (!(err instanceof Error && err.name === 'AbortError')) throw err;
  }
}
