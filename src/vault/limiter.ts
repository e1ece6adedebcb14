import PQueue from 'p-queue';
import { rateOptions as rate, TenantQueues } from '../core/budget.js';

export interface VaultLimits {
  /** All Vault requests, logins included. */
  requestsPerSecond: number;
  /** Of those, what one tenant (namespace) may make per second; absent: no tenant bound. */
  requestsPerSecondPerTenant?: number;
  maxInFlight: number;
  /** Logins, on top of the global budget. */
  loginsPerSecond: number;
}

export interface ScheduleOptions {
  /** Higher starts first; push refreshes jump ahead of periodic ones. */
  priority?: number;
  /** Whose per-tenant budget the request counts against (a namespace); absent: only the global one. */
  tenant?: string;
  signal?: AbortSignal;
}

/**
 * Vault request budgets: a tenant's own rate first (so one namespace cannot use up the rest), then
 * a global one (rate and in-flight) that every request passes; logins pass a login rate before
 * both. Sliding windows, so no burst at a window boundary.
 */
export class VaultLimiter {
  readonly #requests: PQueue;
  readonly #logins: PQueue;
  readonly #tenants: TenantQueues | undefined;

  constructor(limits: VaultLimits) {
    this.#requests = new PQueue({
      concurrency: Math.max(1, Math.floor(limits.maxInFlight)),
      ...rate(limits.requestsPerSecond),
    });
    this.#logins = new PQueue(rate(limits.loginsPerSecond));
    const perTenant = limits.requestsPerSecondPerTenant;
    this.#tenants = perTenant === undefined ? undefined : new TenantQueues(perTenant);
  }

  request<T>(task: () => Promise<T>, options: ScheduleOptions = {}): Promise<T> {
    const add = { priority: options.priority ?? 0, signal: options.signal };
    const global = () => this.#requests.add(task, add);
    if (options.tenant === undefined || this.#tenants === undefined) return global();
    return this.#tenants.add(options.tenant, global, add);
  }

  /** Tenants with requests waiting or running now (idle ones are forgotten). */
  get tenants(): number {
    return this.#tenants?.size ?? 0;
  }

  login<T>(task: () => Promise<T>, options: ScheduleOptions = {}): Promise<T> {
    return this.#logins.add(() => this.request(task, options), {
      priority: options.priority ?? 0,
      signal: options.signal,
    });
  }
}
