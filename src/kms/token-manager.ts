/**
 * Holds the plugin's one Vault token and keeps it valid: renews it (renew-self) at two thirds of
 * its TTL, obtains a new one (re-reads the file, logs in again) when renewal fails or can no longer
 * extend it, and drops it when Vault refuses it. A token is never logged; only its method and TTL.
 */
import { KmsError } from './errors.js';
import { leaseFrom, type Lease, type TokenSource } from './auth-sources.js';
import type { KmsLogger, Timers } from './types.js';
import { statusError, type VaultTransport } from './vault-http.js';

export interface TokenManagerDeps {
  source: TokenSource;
  vault: VaultTransport;
  timers: Timers;
  log: KmsLogger;
  /** Called with each new or renewed lease's expiry (ms since epoch; 0: none), for a gauge. */
  onLease?: (expiresAt: number) => void;
  /** Budget of one background renewal or login. */
  backgroundTimeoutMs: number;
}

interface Held {
  token: string;
  /** 0: no expiry. */
  expiresAt: number;
  renewable: boolean;
  /** TTL of the lease as first obtained: a renewal that gives much less has hit the max TTL. */
  grantedMs: number;
}

/** After a failed background refresh, try again this soon (or at half the remaining time). */
const RETRY_MS = 30_000;

export class TokenManager {
  #held: Held | undefined;
  #obtaining: Promise<Held> | undefined;
  #timer: unknown;
  #closed = false;

  constructor(private readonly deps: TokenManagerDeps) {}

  /** A token that has not expired; obtains one when none is held. Throws KmsError. */
  async token(signal: AbortSignal): Promise<string> {
    const held = this.#held;
    if (held !== undefined && (held.expiresAt === 0 || this.deps.timers.now() < held.expiresAt)) return held.token;
    return (await this.#obtain(signal)).token;
  }

  /** Vault refused `token`: forget it, so the next call obtains a new one. */
  invalidate(token: string): void {
    if (this.#held?.token !== token) return;
    this.#held = undefined;
    this.#cancelTimer();
  }

  close(): void {
    this.#closed = true;
    this.#cancelTimer();
  }

  #obtain(signal: AbortSignal): Promise<Held> {
    // Concurrent callers share one login; a failed login is not cached, the next call tries again.
    this.#obtaining ??= this.deps.source
      .obtain(signal)
      .then((lease) => this.#hold(lease, 'obtained'))
      .finally(() => {
        this.#obtaining = undefined;
      });
    return this.#obtaining;
  }

  #hold(lease: Lease, how: 'obtained' | 'renewed', grantedMs = lease.ttlMs): Held {
    const now = this.deps.timers.now();
    const held: Held = {
      token: lease.token,
      expiresAt: lease.ttlMs > 0 ? now + lease.ttlMs : 0,
      renewable: lease.renewable,
      grantedMs,
    };
    this.#held = held;
    this.deps.onLease?.(held.expiresAt);
    this.deps.log.info(
      { method: this.deps.source.method, ttlSeconds: Math.round(lease.ttlMs / 1000), renewable: lease.renewable },
      `Vault token ${how}`,
    );
    if (lease.ttlMs > 0) this.#schedule(Math.floor((lease.ttlMs * 2) / 3));
    return held;
  }

  #schedule(ms: number): void {
    this.#cancelTimer();
    if (this.#closed) return;
    this.#timer = this.deps.timers.setTimeout(() => void this.#refresh(), ms);
  }

  #cancelTimer(): void {
    if (this.#timer !== undefined) this.deps.timers.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** Background: renew, or obtain a new token; on failure keep the old one and retry. */
  async #refresh(): Promise<void> {
    const held = this.#held;
    if (held === undefined || this.#closed) return;
    const signal = AbortSignal.timeout(this.deps.backgroundTimeoutMs);
    try {
      if (held.renewable) {
        const renewed = await this.#renew(held.token, signal);
        // Renewal that no longer extends the token much (max TTL reached): replace it instead.
        if (renewed.ttlMs * 3 >= held.grantedMs) {
          this.#hold(renewed, 'renewed', held.grantedMs);
          return;
        }
      }
      this.#held = undefined;
      await this.#obtain(signal);
    } catch (err) {
      const e = err instanceof KmsError ? err : new KmsError('VaultUnavailable', 'token refresh failed');
      if (this.#held === undefined) this.#held = held; // keep using the old token until it expires
      const remaining = held.expiresAt - this.deps.timers.now();
      this.deps.log.warn(
        {
          method: this.deps.source.method,
          reason: e.reason,
          error: e.message,
          remainingSeconds: Math.round(remaining / 1000),
        },
        'Vault token refresh failed; will retry',
      );
      if (remaining > 0) this.#schedule(Math.max(1_000, Math.min(RETRY_MS, Math.floor(remaining / 2))));
    }
  }

  async #renew(token: string, signal: AbortSignal): Promise<Lease> {
    const answer = await this.deps.vault.send({
      op: 'renew',
      method: 'POST',
      path: 'auth/token/renew-self',
      token,
      body: {},
      signal,
    });
    if (answer.status === 403 || answer.status === 401) {
      throw new KmsError('VaultAuthFailed', 'Vault refused to renew the token (expired or revoked?)');
    }
    if (answer.status !== 200) throw statusError('renew', answer);
    const lease = leaseFrom(answer.body, 'token renewal');
    // renew-self returns the same token; keep ours in case an answer leaves it out.
    return { ...lease, token };
  }
}
