/**
 * In-memory fakes of reconcile's dependencies, for unit tests only (not exported from index.ts).
 * They behave like the real thing where reconcile depends on it: 409 on a taken name or stale
 * resourceVersion, uid preconditions on delete, immutable Secrets refusing data changes, a cache
 * that holds only labelled Secrets, and a status writer whose result the lister then returns.
 */
import type { SecretSync, SecretSyncStatus } from '../../api/index.js';
import { SyncError } from '../../errors.js';
import { kvSource } from '../../sources/index.js';
import type { ReconcileDeps, ReconcileSettings } from '../reconcile.js';
import {
  MANAGED_BY_LABEL,
  MANAGED_BY_VALUE,
  OWNER_ANNOTATION,
  type EventType,
  type SecretObject,
  type StoredSecret,
  type SyncOutcome,
} from '../types.js';
import { keyOf } from '../../core/types.js';
import { dataDigest } from '../../render/index.js';
import { recordingLogger } from '../../core/testing/logger.js';
import { FakeVaultReader } from '../../vault/testing/fake-vault.js';

const clone = <T>(v: T): T => structuredClone(v);
const id = (namespace: string, name: string) => `${namespace}/${name}`;

export type SecretWrite =
  | { op: 'create'; secret: SecretObject }
  | { op: 'update'; secret: SecretObject }
  | { op: 'delete'; namespace: string; name: string; uid: string };

export class FakeSecretStore {
  readonly live = new Map<string, SecretObject>();
  readonly writes: SecretWrite[] = [];
  /** Names (`ns/name`) the cache has not seen yet. */
  readonly notYetCached = new Set<string>();
  private serial = 0;

  /** Puts a Secret in place as if someone created it earlier; not recorded as a write. */
  seed(secret: SecretObject): SecretObject {
    const stored = clone(secret);
    stored.metadata.uid ??= `seed-uid-${++this.serial}`;
    stored.metadata.resourceVersion ??= String(++this.serial);
    this.live.set(id(stored.metadata.namespace, stored.metadata.name), stored);
    return clone(stored);
  }

  /** Edits a stored Secret in place, as `kubectl edit` would. */
  edit(namespace: string, name: string, change: (s: SecretObject) => void): void {
    const s = this.live.get(id(namespace, name));
    if (s === undefined) throw new Error(`no Secret ${name}`);
    change(s);
    s.metadata.resourceVersion = String(++this.serial);
  }

  current(namespace: string, name: string): SecretObject | undefined {
    const s = this.live.get(id(namespace, name));
    return s === undefined ? undefined : clone(s);
  }

  /** The store hands out what the real one caches: metadata and a keyed digest, no data. */
  digestData(data: Record<string, string>): string {
    return dataDigest(HASH_KEY, data);
  }

  #stored(s: SecretObject): StoredSecret {
    const { data, ...rest } = clone(s);
    return { ...rest, dataDigest: this.digestData(data) };
  }

  getCached(namespace: string, name: string): StoredSecret | undefined {
    if (this.notYetCached.has(id(namespace, name))) return undefined;
    const s = this.live.get(id(namespace, name));
    return s !== undefined && managed(s) ? this.#stored(s) : undefined;
  }

  get(namespace: string, name: string): Promise<StoredSecret | undefined> {
    const s = this.live.get(id(namespace, name));
    return Promise.resolve(s === undefined ? undefined : this.#stored(s));
  }

  create(secret: SecretObject): Promise<StoredSecret> {
    const key = id(secret.metadata.namespace, secret.metadata.name);
    if (this.live.has(key)) return Promise.reject(apiError(409, `secrets "${secret.metadata.name}" already exists`));
    if (secret.metadata.uid !== undefined || secret.metadata.resourceVersion !== undefined) {
      return Promise.reject(apiError(400, 'create must not carry uid or resourceVersion'));
    }
    this.writes.push({ op: 'create', secret: clone(secret) });
    const stored = clone(secret);
    stored.metadata.uid = `uid-${++this.serial}`;
    stored.metadata.resourceVersion = String(++this.serial);
    this.live.set(key, stored);
    return Promise.resolve(this.#stored(stored));
  }

  update(secret: SecretObject): Promise<StoredSecret> {
    const key = id(secret.metadata.namespace, secret.metadata.name);
    const old = this.live.get(key);
    if (old === undefined) return Promise.reject(apiError(404, 'not found'));
    if (secret.metadata.resourceVersion !== old.metadata.resourceVersion) {
      return Promise.reject(apiError(409, 'the object has been modified'));
    }
    if (old.type !== secret.type) return Promise.reject(apiError(422, 'type: field is immutable'));
    const dataChanged = JSON.stringify(old.data) !== JSON.stringify(secret.data);
    if (old.immutable === true && (dataChanged || secret.immutable !== true)) {
      return Promise.reject(apiError(422, 'data: field is immutable when `immutable` is set'));
    }
    this.writes.push({ op: 'update', secret: clone(secret) });
    const stored = clone(secret);
    stored.metadata.uid = old.metadata.uid;
    stored.metadata.resourceVersion = String(++this.serial);
    this.live.set(key, stored);
    return Promise.resolve(this.#stored(stored));
  }

  delete(namespace: string, name: string, uid: string): Promise<void> {
    const old = this.live.get(id(namespace, name));
    if (old === undefined) return Promise.resolve();
    if (old.metadata.uid !== uid) return Promise.reject(apiError(409, 'Precondition failed: UID mismatch'));
    this.writes.push({ op: 'delete', namespace, name, uid });
    this.live.delete(id(namespace, name));
    return Promise.resolve();
  }

  listByOwner(key: string): StoredSecret[] {
    return [...this.live.values()]
      .filter((s) => managed(s) && s.metadata.annotations?.[OWNER_ANNOTATION] === key)
      .filter((s) => !this.notYetCached.has(id(s.metadata.namespace, s.metadata.name)))
      .map((s) => this.#stored(s));
  }
}

const managed = (s: SecretObject) => s.metadata.labels?.[MANAGED_BY_LABEL] === MANAGED_BY_VALUE;
const apiError = (status: number, message: string) => new SyncError('KubernetesApiError', message, { status });

export class FakeSyncs {
  readonly items = new Map<string, SecretSync>();
  readonly statusWrites: SecretSyncStatus[] = [];

  set(sync: SecretSync): void {
    this.items.set(keyOf(sync), clone(sync));
  }
  get(key: string): SecretSync | undefined {
    const s = this.items.get(key);
    return s === undefined ? undefined : clone(s);
  }
  /** StatusWriter: records the patch and lets the lister return it, as the informer would. */
  patchStatus(sync: SecretSync, status: SecretSyncStatus): Promise<void> {
    this.statusWrites.push(clone(status));
    const current = this.items.get(keyOf(sync));
    if (current !== undefined) current.status = clone(status);
    return Promise.resolve();
  }
}

export interface RecordedEvent {
  key: string;
  type: EventType;
  reason: string;
  message: string;
}

export const HASH_KEY = Buffer.from('test-hmac-key-0123456789abcdef');

export function testSettings(overrides: Partial<ReconcileSettings> = {}): ReconcileSettings {
  return {
    vault: { address: 'https://vault.example:8200', authMount: 'kubernetes' },
    tokenAudiences: ['vault'],
    allowControllerIdentity: false,
    refresh: { defaultMs: 300_000, minMs: 30_000 },
    hashKey: HASH_KEY,
    readCacheTtlMs: 30_000,
    ...overrides,
  };
}

/** Every dependency faked, with handles to inspect what reconcile did. */
export function fakeDeps(settings: Partial<ReconcileSettings> = {}) {
  const store = new FakeSecretStore();
  const vault = new FakeVaultReader();
  const syncs = new FakeSyncs();
  const events: RecordedEvent[] = [];
  const log = recordingLogger();
  const metrics = {
    observed: [] as [SyncOutcome, number][],
    fresh: [] as [string, number][],
    forgotten: [] as string[],
  };
  const clock = { t: Date.parse('2025-01-01T00:00:00Z') };
  const deps: ReconcileDeps = {
    syncs,
    secrets: store,
    sources: [kvSource(vault)],
    status: syncs,
    events: {
      record: (sync, type, reason, message) => {
        events.push({ key: keyOf(sync), type, reason, message });
      },
    },
    clock: { now: () => clock.t },
    log,
    metrics: {
      observeSync: (outcome, seconds) => metrics.observed.push([outcome, seconds]),
      markFresh: (key, at) => metrics.fresh.push([key, at]),
      forget: (key) => metrics.forgotten.push(key),
    },
    settings: testSettings(settings),
  };
  return { deps, store, vault, syncs, events, logs: log.entries, metrics, clock };
}

export const NS = 'team-a';
export const KEY = `${NS}/myapp`;

/** A SecretSync as the API server would return it after defaulting; `edit` adjusts it. */
export function secretSync(edit: (s: SecretSync) => void = () => undefined): SecretSync {
  const sync: SecretSync = {
    apiVersion: 'vaultsync.io/v1alpha1',
    kind: 'SecretSync',
    metadata: { name: 'myapp', namespace: NS, uid: 'sync-uid-1', generation: 1 },
    spec: {
      vault: { kv: { mount: 'secret', path: 'myapp/config' } },
      auth: { kubernetes: { role: 'app-read', serviceAccountName: 'myapp' } },
      target: { type: 'Opaque', immutable: false, deletionPolicy: 'Delete' },
      refresh: {},
    },
  };
  edit(sync);
  return sync;
}

/** Secret data decoded from base64. */
export function decoded(secret: SecretObject | undefined): Record<string, string> | undefined {
  if (secret === undefined) return undefined;
  return Object.fromEntries(
    Object.entries(secret.data).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]),
  );
}
