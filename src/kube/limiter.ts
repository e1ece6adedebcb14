import PQueue from 'p-queue';

export interface WriteLimiterOptions {
  /** API-server writes in flight at once. */
  writeConcurrency: number;
  /** API-server writes started per second (fractions allowed: 0.5 is one every 2 s). */
  writeQps: number;
}

/**
 * The budget of API-server writes (Secrets and status), separate from reads and watches so a
 * burst of reconciles after a Vault outage cannot flood the API server. The defaults are those of
 * `--write-concurrency` and `--write-qps` (config.ts), the one place they are stated.
 */
export class WriteLimiter {
  private readonly queue: PQueue;

  constructor(opts: WriteLimiterOptions) {
    if (!(opts.writeConcurrency >= 1) || !(opts.writeQps > 0)) {
      throw new RangeError(
        `write limits need writeConcurrency >= 1 and writeQps > 0 (got ${opts.writeConcurrency}, ${opts.writeQps})`,
      );
    }
    const perSecond = opts.writeQps >= 1;
    this.queue = new PQueue({
      concurrency: Math.floor(opts.writeConcurrency),
      intervalCap: perSecond ? Math.round(opts.writeQps) : 1,
      interval: perSecond ? 1000 : Math.round(1000 / opts.writeQps),
    });
  }

  /** Runs `fn` within the budget; an abort while waiting for a slot rejects without running it. */
  run<R>(fn: () => Promise<R>, signal?: AbortSignal): Promise<R> {
    return this.queue.add(fn, signal === undefined ? {} : { signal });
  }

  /** Writes waiting for a slot and in flight, for metrics. */
  get depth(): number {
    return this.queue.size + this.queue.pending;
  }
}
