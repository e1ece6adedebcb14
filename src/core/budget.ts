import PQueue from 'p-queue';

/** p-queue options for a rate: whole tasks per window; a rate below 1/s becomes one task per longer window. */
export function rateOptions(perSecond: number): { interval: number; intervalCap: number; strict: boolean } {
  if (!Number.isFinite(perSecond) || perSecond <= 0) return { interval: 0, intervalCap: Infinity, strict: false };
  if (perSecond >= 1) return { interval: 1000, intervalCap: Math.floor(perSecond), strict: true };
  return { interval: Math.round(1000 / perSecond), intervalCap: 1, strict: true };
}

/**
 * One rate-limited queue per tenant (a namespace), made on first use and dropped once idle, so the
 * map holds only tenants with work waiting or running: memory follows activity, not tenant count.
 * A tenant's requests pass its own queue first and the shared budget after, so one tenant cannot
 * use up the shared budget.
 */
export class TenantQueues {
  readonly #perSecond: number;
  readonly #queues = new Map<string, PQueue>();

  constructor(perSecond: number) {
    this.#perSecond = perSecond;
  }

  /** Runs `task` (which enters the shared budget) once `tenant`'s own rate allows. */
  add<T>(tenant: string, task: () => Promise<T>, options: { priority?: number; signal?: AbortSignal }): Promise<T> {
    return this.#queue(tenant).add(task, options);
  }

  /** Tenants with a queue now. */
  get size(): number {
    return this.#queues.size;
  }

  #queue(tenant: string): PQueue {
    const existing = this.#queues.get(tenant);
    if (existing !== undefined) return existing;
    const queue = new PQueue(rateOptions(this.#perSecond));
    this.#queues.set(tenant, queue);
    queue.addEventListener('idle', () => {
      // A new queue for the tenant starts a fresh rate window, which can let one window's worth
      // through early once: bounded, and only after the tenant was idle.
      if (this.#queues.get(tenant) === queue && queue.size === 0 && queue.pending === 0) this.#queues.delete(tenant);
    });
    return queue;
  }
}
