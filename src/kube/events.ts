import { randomBytes } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import PQueue from 'p-queue';
import type { SecretSync } from '../api/index.js';
import type { EventRecorder, EventType } from '../controller/types.js';
import type { Logger } from '../core/types.js';
import { TokenBuckets } from '../scheduler/token-buckets.js';
import type { KubeHttp } from './http.js';
import { apiErrorDetail, apiStatus } from './request.js';

export const REPORTING_COMPONENT = 'vaultsync';

export interface EventRecorderOptions {
  api: Pick<KubeHttp, 'request'>;
  log: Logger;
  /** This replica (pod name), reported as reportingInstance. */
  instance: string;
  now?: () => number;
  /** Identical events closer together than this update one Event. Default 10 min. */
  aggregationWindowMs?: number;
  /** Per-object token bucket: burst, then one event per refill interval (client-go's 25 and 5 min). */
  burst?: number;
  refillIntervalMs?: number;
  /**
   * Normal events of all objects together: a burst, then this many a second (default 50 and 5).
   * A controller starting on 10,000 SecretSyncs would otherwise spend an API write on a
   * "Created Secret" event for each; Warnings are bounded only per object.
   */
  normalBurst?: number;
  normalPerSecond?: number;
  /** Events waiting beyond this are dropped (logged): a slow API server must not grow memory. */
  maxQueued?: number;
  requestTimeoutMs?: number;
  /**
   * Each write waits for this first (the Secret writes of a push in progress, bounded by the
   * caller): an Event costs the API server about what a Secret write does, and a push's Events
   * must not delay its Secrets. Absent: written at once.
   */
  after?: () => Promise<void>;
}

interface Aggregate {
  namespace: string;
  name: string;
  count: number;
  lastAt: number;
}

const MAX_TRACKED = 4096;
const MAX_MESSAGE = 1024;
const MAX_REASON = 128;

/**
 * Records core/v1 Events on SecretSyncs without ever throwing or blocking the caller. Writes run
 * one at a time from an internal queue (so a repeat sees the Event its predecessor created); a
 * repeat of the same (object, type, reason, message) within the window patches count and
 * lastTimestamp instead of creating another Event.
 */
export class KubeEventRecorder implements EventRecorder {
  private readonly queue = new PQueue({ concurrency: 1 });
  private readonly aggregates = new LRUCache<string, Aggregate>({ max: MAX_TRACKED });
  private readonly buckets: TokenBuckets;
  private readonly normal: TokenBuckets;
  private readonly now: () => number;
  private readonly windowMs: number;
  private readonly maxQueued: number;
  private closed = false;

  constructor(private readonly opts: EventRecorderOptions) {
    this.now = opts.now ?? Date.now;
    this.windowMs = opts.aggregationWindowMs ?? 10 * 60_000;
    this.buckets = new TokenBuckets({
      burst: opts.burst ?? 25,
      refill: { tokens: 1, everyMs: opts.refillIntervalMs ?? 5 * 60_000 },
      clock: { now: this.now },
      maxKeys: MAX_TRACKED,
    });
    const normalPerSecond = opts.normalPerSecond ?? 5;
    this.normal = new TokenBuckets({
      burst: opts.normalBurst ?? 50,
      refill: { tokens: 1, everyMs: Math.max(1, Math.round(1000 / normalPerSecond)) },
      clock: { now: this.now },
      maxKeys: 1,
    });
    this.maxQueued = opts.maxQueued ?? 1000;
  }

  record(sync: SecretSync, type: EventType, reason: string, message: string): void {
    const { namespace, name, uid } = sync.metadata;
    const log = this.opts.log;
    if (this.closed) {
      log.debug({ namespace, name, reason }, 'event dropped: recorder closed');
      return;
    }
    if (type === 'Normal' && this.normal.take('') > 0) {
      log.debug({ namespace, name, reason }, 'event dropped: rate limit of Normal events');
      return;
    }
    if (this.buckets.take(uid) > 0) {
      log.debug({ namespace, name, reason }, 'event dropped: per-object rate limit');
      return;
    }
    if (this.queue.size >= this.maxQueued) {
      log.warn({ namespace, name, reason, queued: this.queue.size }, 'event dropped: queue full');
      return;
    }
    const at = this.now();
    const event = { sync, type, reason: reason.slice(0, MAX_REASON), message: message.slice(0, MAX_MESSAGE), at };
    const after = this.opts.after;
    this.queue
      .add(async () => {
        if (after !== undefined) await after();
        await this.write(event);
      })
      .catch((err: unknown) => {
        log.warn({ namespace, name, reason, err: apiErrorDetail(err), status: apiStatus(err) }, 'event not recorded');
      });
  }

  /** Resolves when every event recorded so far has been written (or has failed). */
  async flush(): Promise<void> {
    await this.queue.onIdle();
  }

  /** Stops accepting events and drains the queue. */
  async close(): Promise<void> {
    this.closed = true;
    await this.flush();
  }

  private async write(e: { sync: SecretSync; type: EventType; reason: string; message: string; at: number }) {
    const key = [e.sync.metadata.uid, e.type, e.reason, e.message].join('\u0000');
    const prior = this.aggregates.get(key);
    if (prior !== undefined && e.at - prior.lastAt <= this.windowMs) {
      const count = prior.count + 1;
      const patched = await this.patch(prior, count, e.at);
      if (patched) {
        this.aggregates.set(key, { ...prior, count, lastAt: e.at });
        return;
      }
    }
    const created = await this.create(e);
    this.aggregates.set(key, { namespace: created.namespace, name: created.name, count: 1, lastAt: e.at });
  }

  /** False when the Event is gone (expired by the API server's event TTL): a new one is created. */
  private async patch(prior: Aggregate, count: number, at: number): Promise<boolean> {
    const body = { count, lastTimestamp: new Date(at).toISOString() };
    try {
      await this.opts.api.request({
        method: 'PATCH',
        path: `${eventsPath(prior.namespace)}/${encodeURIComponent(prior.name)}`,
        body,
        contentType: 'application/merge-patch+json',
        timeoutMs: this.opts.requestTimeoutMs ?? 10_000,
      });
      return true;
    } catch (err: unknown) {
      if (apiStatus(err) === 404) return false;
      throw err;
    }
  }

  private async create(e: { sync: SecretSync; type: EventType; reason: string; message: string; at: number }) {
    const { metadata, apiVersion, kind } = e.sync;
    const time = new Date(e.at).toISOString();
    const name = `${metadata.name.slice(0, 200)}.${e.at.toString(16)}${randomBytes(4).toString('hex')}`;
    const body = {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { name, namespace: metadata.namespace },
      involvedObject: {
        apiVersion,
        kind,
        name: metadata.name,
        namespace: metadata.namespace,
        uid: metadata.uid,
        resourceVersion: metadata.resourceVersion,
      },
      type: e.type,
      reason: e.reason,
      message: e.message,
      count: 1,
      firstTimestamp: time,
      lastTimestamp: time,
      source: { component: REPORTING_COMPONENT },
      reportingComponent: REPORTING_COMPONENT,
      reportingInstance: this.opts.instance,
    };
    await this.opts.api.request({
      method: 'POST',
      path: eventsPath(metadata.namespace),
      body,
      timeoutMs: this.opts.requestTimeoutMs ?? 10_000,
    });
    return { namespace: metadata.namespace, name };
  }
}

const eventsPath = (namespace: string) => `/api/v1/namespaces/${encodeURIComponent(namespace)}/events`;
