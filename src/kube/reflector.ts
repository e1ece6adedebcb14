import { setTimeout as sleep } from 'node:timers/promises';
import { asRecord } from '../core/json.js';
import type { Logger } from '../core/types.js';
import { backoffCeiling } from '../scheduler/backoff.js';
import type { KubeHttp } from './http.js';
import { apiErrorDetail, apiStatus } from './request.js';
import type { KubeObject, Store } from './store.js';

/** One page of a LIST, as the source returns it (raw objects, not yet transformed). */
export interface ListPage {
  items: unknown[];
  resourceVersion: string;
  continueToken?: string | undefined;
}

export interface ListRequest {
  /**
   * When given, the source hands each item of the page here as it is parsed (and returns no items),
   * so the reflector transforms it before the next one is read.
   */
  onItem?: (raw: unknown) => void;
  namespace: string | undefined;
  labelSelector: string | undefined;
  limit: number;
  continueToken: string | undefined;
  signal: AbortSignal;
}

/** How to list and where to watch one resource. */
export interface ResourceSource {
  /** For logs, e.g. `secretsyncs.vaultsync.io`. */
  resource: string;
  list(req: ListRequest): Promise<ListPage>;
  /** URL path of the collection, e.g. /api/v1/namespaces/ns/secrets or /api/v1/secrets. */
  watchPath(namespace: string | undefined): string;
}

export interface ReflectorTiming {
  /** Server-side watch timeout, drawn uniformly per watch so replicas' watches do not align. */
  watchTimeoutSeconds: { min: number; max: number };
  /** A watch silent for longer than its timeout plus this is presumed dead and abandoned. */
  watchdogSlackMs: number;
  backoffInitialMs: number;
  backoffMaxMs: number;
  /** A watch that ends sooner than this without delivering anything counts as a failure. */
  minHealthyWatchMs: number;
  pageSize: number;
}

export const DEFAULT_TIMING: ReflectorTiming = {
  watchTimeoutSeconds: { min: 300, max: 600 },
  watchdogSlackMs: 30_000,
  backoffInitialMs: 1_000,
  backoffMaxMs: 30_000,
  minHealthyWatchMs: 1_000,
  pageSize: 500,
};

export interface ReflectorDeps<T extends KubeObject> {
  /** The plain client the watches run on (sources list through it too). */
  api: Pick<KubeHttp, 'watch'>;
  source: ResourceSource;
  store: Store<T>;
  transform: (raw: unknown) => T | undefined;
  namespace: string | undefined;
  labelSelector: string | undefined;
  timing: ReflectorTiming;
  log: Logger;
  now: () => number;
  random: () => number;
  onSynced: () => void;
}

type WatchEnd = 'closed' | 'expired' | 'stalled' | 'error' | 'stopped';

interface WatchResult {
  end: WatchEnd;
  error?: unknown;
  resourceVersion: string;
  events: number;
  durationMs: number;
}

/**
 * Keeps the cache of one namespace (or all) equal to the API server: LIST, then WATCH from the
 * list's resourceVersion, resuming from the last one seen (bookmarks included); relists on 410 Gone.
 * Failures retry forever with backoff and jitter, so the loop never ends before stop().
 */
export class Reflector<T extends KubeObject> {
  private progressAt: number;
  private synced = false;

  constructor(private readonly deps: ReflectorDeps<T>) {
    this.progressAt = deps.now();
  }

  hasSynced(): boolean {
    return this.synced;
  }

  lastProgressAt(): number {
    return this.progressAt;
  }

  async run(signal: AbortSignal): Promise<void> {
    const { log } = this.deps;
    let resourceVersion: string | undefined;
    let failures = 0;
    // A function, not the property: TypeScript would narrow `signal.aborted` to false inside the loop.
    const stopped = () => signal.aborted;
    while (!stopped()) {
      try {
        if (resourceVersion === undefined) {
          resourceVersion = await this.relist(signal);
          failures = 0;
        }
        const result = await this.watchOnce(resourceVersion, signal);
        resourceVersion = result.resourceVersion;
        if (result.end === 'stopped') break;
        if (result.end === 'expired') {
          log.info({ resourceVersion }, 'watch resourceVersion expired (410 Gone): relisting');
          resourceVersion = undefined;
          // A server answering 410 to every fresh watch must not turn this into a tight relist loop.
          if (result.durationMs < this.deps.timing.minHealthyWatchMs) await this.backoff(1, signal);
          continue;
        }
        if (result.end === 'error') throw result.error;
        if (result.end === 'stalled') {
          log.warn({ durationMs: result.durationMs }, 'watch received nothing past its timeout: abandoned');
        }
        const healthy = result.events > 0 || result.durationMs >= this.deps.timing.minHealthyWatchMs;
        if (result.end === 'closed' && healthy) {
          failures = 0;
          continue;
        }
        failures++;
        await this.backoff(failures, signal);
      } catch (err: unknown) {
        if (stopped()) break;
        failures++;
        log.warn(
          {
            err: apiErrorDetail(err),
            status: apiStatus(err),
            failures,
            relist: resourceVersion === undefined,
          },
          'list/watch failed: retrying',
        );
        await this.backoff(failures, signal);
      }
    }
  }

  private async backoff(failures: number, signal: AbortSignal): Promise<void> {
    const { backoffInitialMs, backoffMaxMs } = this.deps.timing;
    const ceiling = backoffCeiling(failures - 1, backoffInitialMs, backoffMaxMs);
    // Equal jitter: never less than half the ceiling, so a dead server is not hammered.
    const delay = ceiling / 2 + (this.deps.random() * ceiling) / 2;
    try {
      await sleep(delay, undefined, { signal });
    } catch (err: unknown) {
      if (!signal.aborted) throw err;
    }
  }

  private async relist(signal: AbortSignal): Promise<string> {
    const { source, namespace, labelSelector, timing, transform, store } = this.deps;
    const items: T[] = [];
    let continueToken: string | undefined;
    let resourceVersion = '';
    const onItem = (raw: unknown) => {
      const obj = transform(raw);
      if (obj !== undefined) items.push(obj);
    };
    do {
      const page = await source.list({
        namespace,
        labelSelector,
        limit: timing.pageSize,
        continueToken,
        signal,
        onItem,
      });
      for (const raw of page.items) onItem(raw);
      resourceVersion = page.resourceVersion;
      continueToken = page.continueToken === '' ? undefined : page.continueToken;
    } while (continueToken !== undefined);
    store.replace(namespace, items, resourceVersion);
    this.progressAt = this.deps.now();
    if (!this.synced) {
      this.synced = true;
      this.deps.onSynced();
    }
    this.deps.log.debug({ items: items.length, resourceVersion }, 'listed');
    return resourceVersion;
  }

  private watchOnce(from: string, signal: AbortSignal): Promise<WatchResult> {
    const { api, source, namespace, labelSelector, timing, now } = this.deps;
    const { min, max } = timing.watchTimeoutSeconds;
    const timeoutSeconds = Math.round(min + this.deps.random() * (max - min));
    const silenceMs = timeoutSeconds * 1000 + timing.watchdogSlackMs;
    const started = now();
    let resourceVersion = from;
    let events = 0;
    let finished = false;
    let controller: AbortController | undefined;

    return new Promise<WatchResult>((resolve) => {
      const finish = (end: WatchEnd, error?: unknown) => {
        if (finished) return;
        finished = true;
        clearTimeout(watchdog);
        signal.removeEventListener('abort', onAbort);
        controller?.abort();
        resolve({ end, error, resourceVersion, events, durationMs: now() - started });
      };
      // Reset on every byte of progress; fires only for a watch that is silent past its own timeout.
      const watchdog = setTimeout(() => {
        finish('stalled');
      }, silenceMs);
      const onAbort = () => {
        finish('stopped');
      };
      signal.addEventListener('abort', onAbort, { once: true });
      if (signal.aborted) {
        finish('stopped');
        return;
      }

      const onEvent = ({ type, object: raw }: { type: string; object: unknown }) => {
        if (finished) return;
        events++;
        watchdog.refresh();
        this.progressAt = now();
        if (type === 'ERROR') {
          const code = statusCode(raw);
          if (code === 410) finish('expired');
          else finish('error', new WatchStatusError(code, statusText(raw)));
          return;
        }
        const rv = resourceVersionOf(raw);
        if (rv !== undefined) resourceVersion = rv;
        if (type === 'BOOKMARK') return;
        const obj = this.deps.transform(raw);
        if (obj === undefined) return;
        if (type === 'DELETED') this.deps.store.remove(obj);
        else this.deps.store.apply(obj);
      };

      // The stream is ours to end: stop, the watchdog and an ERROR event all abort it through finish().
      controller = new AbortController();
      this.progressAt = now();
      const query = {
        allowWatchBookmarks: 'true',
        resourceVersion,
        timeoutSeconds,
        labelSelector,
      };
      api.watch({ path: source.watchPath(namespace), query, signal: controller.signal }, onEvent).then(
        () => {
          finish('closed');
        },
        (err: unknown) => {
          finish(apiStatus(err) === 410 ? 'expired' : 'error', err);
        },
      );
    });
  }
}

/** An ERROR event on a watch that is not 410 Gone. */
export class WatchStatusError extends Error {
  constructor(
    readonly code: number | undefined,
    detail: string,
  ) {
    super(`watch error event${code === undefined ? '' : ` ${code}`}: ${detail}`);
  }
}

function resourceVersionOf(raw: unknown): string | undefined {
  const rv = asRecord(asRecord(raw)?.metadata)?.resourceVersion;
  return typeof rv === 'string' && rv !== '' ? rv : undefined;
}

function statusCode(raw: unknown): number | undefined {
  const code = asRecord(raw)?.code;
  return typeof code === 'number' ? code : undefined;
}

function statusText(raw: unknown): string {
  const message = asRecord(raw)?.message;
  return typeof message === 'string' ? message : 'no message';
}
