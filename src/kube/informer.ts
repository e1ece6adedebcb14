import type { KubeHttp } from './http.js';
import type { Logger } from '../core/types.js';
import { DEFAULT_TIMING, Reflector, type ReflectorTiming, type ResourceSource } from './reflector.js';
import { Store, type ChangeKind, type KubeObject } from './store.js';

/** Event handlers get the object's key (and the object, to derive other keys); they only enqueue. */
export interface InformerHandlers<T> {
  add?(key: string, obj: T): void;
  update?(key: string, obj: T, old: T): void;
  delete?(key: string, obj: T): void;
}

export interface InformerOptions<T extends KubeObject> {
  /** For logs, e.g. `secretsyncs`. */
  name: string;
  /** Where the watches run. */
  api: Pick<KubeHttp, 'watch'>;
  source: ResourceSource;
  /** Turns a raw API object into the cached form; undefined drops a malformed object (logged). */
  transform: (raw: unknown) => T | undefined;
  /** Namespaces to watch, one list/watch each; empty or absent: all namespaces. */
  namespaces?: readonly string[] | undefined;
  labelSelector?: string | undefined;
  /** Secondary index, kept in step with every cache change. */
  indexBy?: (obj: T) => string | undefined;
  log: Logger;
  timing?: Partial<ReflectorTiming>;
  now?: () => number;
  random?: () => number;
}

/**
 * A cache of one resource kept current by our own list/watch loops (not client-node's
 * makeInformer, whose watches have died silently). Handlers fire for every change seen from the
 * API server, including the differences found when a relist replaces the cache.
 */
export class Informer<T extends KubeObject> {
  private readonly store: Store<T>;
  private readonly reflectors: Reflector<T>[];
  private readonly handlers: InformerHandlers<T>[] = [];
  private readonly log: Logger;
  private readonly synced: Promise<void>;
  private resolveSynced!: () => void;
  private controller: AbortController | undefined;
  private running: Promise<void>[] = [];

  constructor(opts: InformerOptions<T>) {
    const now = opts.now ?? Date.now;
    const random = opts.random ?? Math.random;
    this.log = opts.log.child({ informer: opts.name });
    this.store = new Store<T>(
      (kind, key, obj, old) => {
        this.dispatch(kind, key, obj, old);
      },
      opts.indexBy,
      now,
    );
    this.synced = new Promise((resolve) => {
      this.resolveSynced = resolve;
    });
    const timing = { ...DEFAULT_TIMING, ...opts.timing };
    const namespaces = [...new Set(opts.namespaces ?? [])];
    const scopes: (string | undefined)[] = namespaces.length === 0 ? [undefined] : namespaces;
    this.reflectors = scopes.map(
      (namespace) =>
        new Reflector<T>({
          api: opts.api,
          source: opts.source,
          store: this.store,
          transform: (raw) => this.transform(opts.transform, raw),
          namespace,
          labelSelector: opts.labelSelector,
          timing,
          log: this.log.child({ namespace: namespace ?? '*' }),
          now,
          random,
          onSynced: () => {
            if (this.hasSynced()) this.resolveSynced();
          },
        }),
    );
  }

  addHandlers(handlers: InformerHandlers<T>): void {
    this.handlers.push(handlers);
  }

  /** Starts the list/watch loops; they run until stop(). */
  start(): void {
    if (this.controller !== undefined) return;
    const controller = new AbortController();
    this.controller = controller;
    this.running = this.reflectors.map((r) =>
      r.run(controller.signal).catch((err: unknown) => {
        // run() retries every failure itself; reaching here is a bug, and the cache would go stale.
        this.log.error({ err }, 'informer loop ended unexpectedly');
      }),
    );
  }

  async stop(): Promise<void> {
    this.controller?.abort();
    await Promise.all(this.running);
  }

  get(key: string): T | undefined {
    return this.store.get(key);
  }

  list(): T[] {
    return this.store.values();
  }

  byIndex(value: string): T[] {
    return this.store.byIndex(value);
  }

  /** True once every namespace's first list has filled the cache. */
  hasSynced(): boolean {
    return this.reflectors.every((r) => r.hasSynced());
  }

  /** Resolves once synced; rejects when `signal` aborts first. */
  waitForSync(signal?: AbortSignal): Promise<void> {
    if (signal === undefined) return this.synced;
    signal.throwIfAborted();
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        reject(signal.reason instanceof Error ? signal.reason : new Error('aborted while waiting for sync'));
      };
      signal.addEventListener('abort', onAbort, { once: true });
      void this.synced.then(() => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      });
    });
  }

  /**
   * The oldest "last sign of life" over all namespaces' loops (a list, a watch opening, any
   * event or bookmark). /healthz compares it with the clock to catch a watch that stopped moving.
   */
  lastProgressAt(): number {
    return Math.min(...this.reflectors.map((r) => r.lastProgressAt()));
  }

  /**
   * Puts the object returned by our own write into the cache at once, so the next reconcile does
   * not act on what it just replaced. The watch event that follows is then a no-op; an older one
   * never overwrites it. Handlers are not called: the writer already knows.
   */
  applyLocalWrite(obj: T): void {
    this.store.apply(obj, false);
  }

  /** Our own successful delete: removed now, and kept from coming back through a late watch event. */
  applyLocalDelete(key: string, uid: string): void {
    this.store.removeLocal(key, uid);
  }

  private transform(fn: (raw: unknown) => T | undefined, raw: unknown): T | undefined {
    const obj = fn(raw);
    if (obj === undefined) this.log.warn({}, 'dropped a malformed object from the API server');
    return obj;
  }

  private dispatch(kind: ChangeKind, key: string, obj: T, old: T | undefined): void {
    for (const h of this.handlers) {
      try {
        if (kind === 'add') h.add?.(key, obj);
        else if (kind === 'update') h.update?.(key, obj, old ?? obj);
        else h.delete?.(key, obj);
      } catch (err: unknown) {
        // A handler only enqueues; if it throws anyway the cache must still move on.
        this.log.error({ err, key, kind }, 'informer handler threw');
      }
    }
  }
}
