/**
 * The controller's watches: which events queue which requests. The caches are stand-ins behind
 * the narrow WatchedCache interface; the queue is the real one.
 */
import { describe, expect, it } from 'vitest';
import type { SecretSync } from '../api/index.js';
import type { Key } from '../core/types.js';
import { keyOf } from '../core/types.js';
import { Priority, WorkQueue } from '../scheduler/index.js';
import { SecretSyncController } from './secretsync-controller.js';
import { fakeDeps, secretSync } from './testing/fakes.js';
import { OWNER_ANNOTATION, OWNER_UID_ANNOTATION, type StoredSecret } from './types.js';

type Handlers<T> = {
  add?: (key: Key, obj: T) => void;
  update?: (key: Key, obj: T, old: T) => void;
  delete?: (key: Key, obj: T) => void;
};

function setup(options: { synced?: boolean; maxSecretSyncsPerNamespace?: number } = {}) {
  const h = fakeDeps();
  let synced = options.synced ?? true;
  const syncHandlers: Handlers<SecretSync>[] = [];
  let ownerChange: (owner: Key, secret: StoredSecret) => void = () => undefined;
  const syncs = Object.assign(h.syncs, {
    addHandlers: (x: Handlers<SecretSync>) => syncHandlers.push(x),
    hasSynced: () => synced,
    waitForSync: () => Promise.resolve(),
    lastProgressAt: () => Date.now(),
    list: () => [...h.syncs.items.values()],
  });
  const informer = { hasSynced: () => synced, waitForSync: () => Promise.resolve(), lastProgressAt: () => Date.now() };
  const secrets = Object.assign(h.store, {
    informer,
    onOwnerChange: (fn: typeof ownerChange) => (ownerChange = fn),
  });
  const queue = new WorkQueue({ laneOf: (k) => k.slice(0, k.indexOf('/')) });
  const controller = new SecretSyncController({
    ...h.deps,
    syncs,
    secrets,
    queue,
    concurrency: 2,
    rand: () => 0.5,
    ...(options.maxSecretSyncsPerNamespace === undefined
      ? {}
      : { maxSecretSyncsPerNamespace: options.maxSecretSyncsPerNamespace }),
  });
  const add = (sync: SecretSync) => {
    h.syncs.set(sync);
    for (const x of syncHandlers) x.add?.(keyOf(sync), sync);
  };
  const drain = async () => {
    const out: { key: string; priority: string; fresh: boolean }[] = [];
    while (queue.len() > 0) {
      const r = await queue.get();
      if (r === undefined) break;
      out.push(r);
      queue.done(r.key);
    }
    return out;
  };
  return {
    h,
    queue,
    controller,
    add,
    drain,
    syncHandlers,
    ownerChange: (owner: Key, s: StoredSecret) => ownerChange(owner, s),
    markSynced: () => (synced = true),
  };
}

const named = (ns: string, name: string, uid = `uid-${ns}-${name}`) =>
  secretSync((s) => {
    s.metadata.namespace = ns;
    s.metadata.name = name;
    s.metadata.uid = uid;
  });

const stored = (ns: string, name: string, annotations: Record<string, string>): StoredSecret => ({
  metadata: { name, namespace: ns, annotations },
  type: 'Opaque',
  dataDigest: 'd',
});

describe('SecretSyncController watches', () => {
  it('queues a new SecretSync at once, and one an earlier run synced spread over its interval at startup', async () => {
    const t = setup({ synced: false });
    const ready = named('a', 'old');
    ready.metadata.generation = 1;
    ready.status = {
      observedGeneration: 1,
      conditions: [{ type: 'Ready', status: 'True', reason: 'Synced', message: '', lastTransitionTime: '' }],
    };
    t.add(ready);
    t.add(named('a', 'never-synced'));
    expect(t.queue.len()).toBe(0); // held until the list is complete
    t.markSynced();
    t.controller.queueInitialList();
    expect(await t.drain()).toEqual([{ key: 'a/never-synced', priority: Priority.New, fresh: false }]);
    expect(t.queue.stats().delayed).toBe(1); // a/old: half its interval away (rand 0.5)
  });

  it('queues the initial list group by group, so readers of one path and identity follow each other', async () => {
    const t = setup({ synced: false });
    // Listed by name, the readers of each path are spread over the list.
    for (let i = 0; i < 6; i++) {
      t.add(
        secretSync((s) => {
          s.metadata.name = `s-${i}`;
          s.metadata.uid = `u-${i}`;
          s.spec.vault.kv!.path = `p${i % 3}`;
        }),
      );
    }
    t.markSynced();
    t.controller.queueInitialList();
    t.controller.queueInitialList(); // idempotent
    const order = (await t.drain()).map((r) => r.key);
    expect(order).toHaveLength(6);
    const paths = order.map((k) => Number(k.slice(k.lastIndexOf('-') + 1)) % 3);
    expect(paths).toEqual([...paths].sort()); // grouped: p0, p0, p1, p1, p2, p2 (by group key, whichever first)
    expect(new Set(paths.slice(0, 2)).size).toBe(1);
  });

  it('ignores updates that change only status, and queues spec changes', async () => {
    const t = setup();
    const sync = named('a', 'x');
    t.add(sync);
    await t.drain();
    const statusOnly = structuredClone(sync);
    statusOnly.status = { observedGeneration: 1 };
    for (const x of t.syncHandlers) x.update?.('a/x', statusOnly, sync);
    expect(t.queue.len()).toBe(0);
    const changed = structuredClone(sync);
    changed.metadata.generation = 2;
    for (const x of t.syncHandlers) x.update?.('a/x', changed, sync);
    expect(await t.drain()).toEqual([{ key: 'a/x', priority: Priority.New, fresh: false }]);
  });

  it('wakes a SecretSync only for a Secret in its own namespace that carries its uid', async () => {
    const t = setup();
    t.add(named('team-a', 'app', 'uid-1'));
    await t.drain();
    const owner = 'team-a/app';
    // Someone in team-b labels a Secret naming team-a's SecretSync: nothing is queued.
    t.ownerChange(owner, stored('team-b', 'bait', { [OWNER_ANNOTATION]: owner, [OWNER_UID_ANNOTATION]: 'uid-1' }));
    // In team-a, but without the owner's uid (or with a stale one): nothing either.
    t.ownerChange(owner, stored('team-a', 'bait', { [OWNER_ANNOTATION]: owner }));
    t.ownerChange(owner, stored('team-a', 'bait', { [OWNER_ANNOTATION]: owner, [OWNER_UID_ANNOTATION]: 'uid-0' }));
    expect(t.queue.len()).toBe(0);
    // The SecretSync's own Secret edited by hand: repaired.
    t.ownerChange(owner, stored('team-a', 'app', { [OWNER_ANNOTATION]: owner, [OWNER_UID_ANNOTATION]: 'uid-1' }));
    expect(await t.drain()).toEqual([{ key: owner, priority: Priority.New, fresh: false }]);
  });

  it('queues pushes as fresh requests at push priority, and reports them pending until handed out', async () => {
    const t = setup();
    t.add(named('a', 'x'));
    await t.drain();
    const target = t.controller.refreshTarget(() => true);
    expect(target.exists('a/x')).toBe(true);
    expect(target.exists('a/none')).toBe(false);
    t.add(named('b', 'y'));
    await t.drain();
    target.push(['a/x', 'b/y']);
    expect(target.pendingPush?.('a/x')).toBe(true);
    // One push time for all its SecretSyncs, so they can share one read made since.
    const since = t.h.clock.t;
    expect(await t.drain()).toEqual([
      { key: 'a/x', priority: Priority.Push, fresh: true, freshSince: since },
      { key: 'b/y', priority: Priority.Push, fresh: true, freshSince: since },
    ]);
    expect(target.pendingPush?.('a/x')).toBe(false);
  });

  it('indexes the path each SecretSync reads for the webhook', () => {
    const t = setup();
    t.add(named('a', 'x'));
    expect(t.controller.paths.lookup('secret/myapp/config')).toEqual(['a/x']);
    for (const x of t.syncHandlers) x.delete?.('a/x', named('a', 'x'));
    expect(t.controller.paths.lookup('secret/myapp/config')).toEqual([]);
  });

  it('looks again at SecretSyncs over the namespace bound when one of the namespace goes', async () => {
    const t = setup({ maxSecretSyncsPerNamespace: 1 });
    const first = named('a', 'first');
    first.metadata.creationTimestamp = '2025-01-01T00:00:00Z';
    const second = named('a', 'second');
    second.metadata.creationTimestamp = '2025-01-02T00:00:00Z';
    t.add(first);
    t.add(second);
    await t.drain();
    t.h.syncs.items.delete('a/first');
    for (const x of t.syncHandlers) x.delete?.('a/first', first);
    expect((await t.drain()).map((r) => r.key).sort()).toEqual(['a/first', 'a/second']);
  });
});
