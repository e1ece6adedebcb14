import PQueue from 'p-queue';
import { rateOptions, TenantQueues } from '../core/budget.js';

export interface WriteLimiterOptions {
  /** API-server writes in flight at once. */
  writeConcurrency: number;
  /** API-server writes started per second (fractions allowed: 0.5 is one every 2 s). */
  writeQps: number;
  /** Of those, what one tenant (namespace) may start per second; absent: no tenant bound. */
  writeQpsPerTenant?: number;
}

/**
 * The budget of API-server writes (Secrets and status), separate from reads and watches so a
 * burst of reconciles after a Vault outage cannot flood the API server. The defaults are those of
 * `--write-concurrency` and `--write-qps` (config.ts), the one place they are stated.
 */
export class WriteLimiter {
  private readonly queue: PQueue;
  private readonly tenants: TenantQueues | undefined;

  constructor(opts: WriteLimiterOptions) {
    if (!(opts.writeConcurrency >= 1) || !(opts.writeQps > 0)) {
      throw new RangeError(
        `write limits need writeConcurrency >= 1 and writeQps > 0 (got ${opts.writeConcurrency}, ${opts.writeQps})`,
      );
    }
    this.queue = new PQueue({ concurrency: Math.floor(opts.writeConcurrency), ...rateOptions(opts.writeQps) });
    this.tenants = opts.writeQpsPerTenant === undefined ? undefined : new TenantQueues(opts.writeQpsPerTenant);
  }

  /**
   * Runs `fn` within the budget (and `tenant`'s share of it, if given); an abort while waiting for a
   * slot rejects without running it. Waiting writes start by `priority` (higher first, default 0),
   * then in order.
   */
  run<R>(fn: () => Promise<R>, signal?: AbortSignal, tenant?: string, priority = 0): Promise<R> {
    const options = signal === undefined ? { priority } : { signal, priority };
    const shared = () => this.queue.add(fn, options);
    if (tenant === undefined || this.tenants === undefined) return shared();
    return this.tenants.add(tenant, shared, options);
  }

  /** Writes waiting for a slot and in flight, for metrics. */
  get depth(): number {
    return this.queue.size + this.queue.pending;
  }
}
