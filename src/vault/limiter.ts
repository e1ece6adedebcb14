import PQueue from 'p-queue';

export interface VaultLimits {
  /** All Vault requests, logins included. */
  requestsPerSecond: number;
  maxInFlight: number;
  /** Logins, on top of the global budget. */
  loginsPerSecond: number;
}

export interface ScheduleOptions {
  /** Higher starts first; push refreshes jump ahead of periodic ones. */
  priority?: number;
  signal?: AbortSignal;
}

/** p-queue counts whole tasks per interval; a rate below 1/s becomes one task per longer interval. */
function rate(perSecond: number): { interval: number; intervalCap: number; strict: boolean } {
  if (!Number.isFinite(perSecond) || perSecond <= 0) return { interval: 0, intervalCap: Infinity, strict: false };
  if (perSecond >= 1) return { interval: 1000, intervalCap: Math.floor(perSecond), strict: true };
  return { interval: Math.round(1000 / perSecond), intervalCap: 1, strict: true };
}

/**
 * Vault request budgets: a global one (rate and in-flight) that every request passes, and a login
 * rate that logins pass first. Sliding windows, so no burst at a window boundary.
 */
export class VaultLimiter {
  readonly #requests: PQueue;
  readonly #logins: PQueue;

  constructor(limits: VaultLimits) {
    this.#requests = new PQueue({
      concurrency: Math.max(1, Math.floor(limits.maxInFlight)),
      ...rate(limits.requestsPerSecond),
    });
    this.#logins = new PQueue(rate(limits.loginsPerSecond));
  }

  request<T>(task: () => Promise<T>, options: ScheduleOptions = {}): Promise<T> {
    return this.#requests.add(task, { priority: options.priority ?? 0, signal: options.signal });
  }

  login<T>(task: () => Promise<T>, options: ScheduleOptions = {}): Promise<T> {
    return this.#logins.add(() => this.request(task, options), {
      priority: options.priority ?? 0,
      signal: options.signal,
    });
  }
}
