/**
 * Pushes write their Secrets first and their statuses after (status-lane.ts), with the in-memory
 * fakes: the statuses still end up what a reconcile that waited for them would have written.
 */
import { describe, expect, it } from 'vitest';
import type { SecretSync, SecretSyncStatus } from '../api/index.js';
import { Priority, type Request } from '../scheduler/index.js';
import { reconcile } from './reconcile.js';
import { StatusLane } from './status-lane.js';
import { decoded, fakeDeps, secretSync, NS } from './testing/fakes.js';

/** A status writer whose writes wait until released, or fail. */
function gatedStatus(h: ReturnType<typeof fakeDeps>) {
  let gate: Promise<void> = Promise.resolve();
  let open: () => void = () => undefined;
  let failing = false;
  const calls: { key: string; status: SecretSyncStatus; background: boolean }[] = [];
  return {
    calls,
    close() {
      gate = new Promise((r) => (open = r));
    },
    open: () => open(),
    fail(on: boolean) {
      failing = on;
    },
    writer: {
      async patchStatus(
        sync: SecretSync,
        status: SecretSyncStatus,
        signal?: AbortSignal,
        o?: { background?: boolean },
      ) {
        const key = `${sync.metadata.namespace}/${sync.metadata.name}`;
        calls.push({ key, status, background: o?.background === true });
        await gate;
        // Like the write budget: a write still waiting for its slot is not sent once aborted.
        if (signal?.aborted === true) throw new DOMException('The operation was aborted', 'AbortError');
        if (failing) throw new Error('apiserver unavailable');
        await h.syncs.patchStatus(sync, status);
      },
    },
  };
}

function setup(count: number, afterPushes?: () => Promise<void>) {
  const h = fakeDeps();
  const status = gatedStatus(h);
  const failed: string[] = [];
  const lane = new StatusLane({
    syncs: h.syncs,
    status: status.writer,
    log: h.deps.log,
    onFailed: (k) => failed.push(k),
    ...(afterPushes === undefined ? {} : { afterPushes }),
  });
  h.deps.status = status.writer;
  h.deps.statusLane = lane;
  const keys: string[] = [];
  for (let i = 0; i < count; i++) {
    h.syncs.set(
      secretSync((s) => {
        s.metadata.name = `app-${i}`;
        s.metadata.uid = `uid-${i}`;
        s.spec.target.name = `app-${i}`;
      }),
    );
    keys.push(`${NS}/app-${i}`);
  }
  h.vault.put('secret/myapp/config', { password: 'one' }, 1);
  const run = (key: string, over: Partial<Request> = {}) =>
    reconcile({ key, priority: Priority.New, fresh: false, ...over }, h.deps, new AbortController().signal);
  const push = (key: string) => run(key, { priority: Priority.Push, fresh: true });
  const ready = (key: string) => h.syncs.get(key)?.status?.conditions?.find((c) => c.type === 'Ready');
  const settle = () => new Promise((r) => setTimeout(r, 0));
  return { ...h, status, lane, failed, keys, run, push, ready, settle };
}

/** One SecretSync synced at version 1, then version 2 written to Vault a minute later. */
async function syncedThenChanged() {
  const h = setup(1);
  const key = h.keys[0]!;
  await h.run(key);
  h.vault.put('secret/myapp/config', { password: 'two' }, 2);
  h.clock.t += 60_000;
  return { h, key, wroteAt: h.clock.t };
}

describe('status lane', () => {
  it("writes a push's Secrets without waiting for their statuses, which follow in the background", async () => {
    const h = setup(3);
    for (const key of h.keys) await h.run(key);
    const before = h.status.calls.length;
    h.vault.put('secret/myapp/config', { password: 'two' }, 2);
    h.clock.t += 60_000;
    h.status.close(); // status writes hang until opened
    for (const key of h.keys) await h.push(key); // each returns although its status is not written
    expect(h.keys.map((_, i) => decoded(h.store.current(NS, `app-${i}`))?.password)).toEqual(['two', 'two', 'two']);
    expect(h.status.calls.slice(before).every((c) => c.background)).toBe(true);
    expect(h.keys.map((k) => h.syncs.get(k)?.status?.vaultVersion)).toEqual([1, 1, 1]);
    h.status.open();
    await h.settle();
    expect(h.lane.size).toBe(0);
    for (const key of h.keys) {
      const st = h.syncs.get(key)?.status;
      expect(st?.vaultVersion).toBe(2);
      expect(st?.lastSyncTime).toBe(new Date(h.clock.t).toISOString().replace(/\.\d+Z$/, 'Z'));
      expect(h.ready(key)?.status).toBe('True');
    }
    // Nothing changed since: a refresh writes no Secret and no status.
    const writes = [h.store.writes.length, h.status.calls.length];
    for (const key of h.keys) await h.run(key, { priority: Priority.Periodic });
    expect([h.store.writes.length, h.status.calls.length]).toEqual(writes);
  });

  it("holds a push's statuses until its Secret writes are done (afterPushes), then writes the latest of each", async () => {
    let release: () => void = () => undefined;
    let waits = 0;
    const h = setup(3, () => {
      waits++;
      return new Promise<void>((r) => (release = r));
    });
    for (const key of h.keys) await h.run(key); // not pushes: written by the reconcile, no wait
    expect(waits).toBe(0);
    const before = h.status.calls.length;
    h.vault.put('secret/myapp/config', { password: 'two' }, 2);
    h.clock.t += 60_000;
    for (const key of h.keys) await h.push(key);
    await h.settle();
    expect(h.keys.map((_, i) => decoded(h.store.current(NS, `app-${i}`))?.password)).toEqual(['two', 'two', 'two']);
    expect(h.status.calls.length).toBe(before); // no status sent while the push is being written
    expect(waits).toBe(1); // one wait shared by the three
    h.vault.put('secret/myapp/config', { password: 'three' }, 3);
    await h.push(h.keys[0]!); // pushed again meanwhile: only its latest status is written
    release();
    await h.settle();
    await h.settle();
    expect(h.status.calls.slice(before).map((c) => [c.key, c.status.vaultVersion])).toEqual([
      [h.keys[0], 3],
      [h.keys[1], 2],
      [h.keys[2], 2],
    ]);
    expect(h.keys.map((k) => h.ready(k)?.status)).toEqual(['True', 'True', 'True']);
    expect(h.lane.size).toBe(0);
  });

  it('builds on a status still waiting in the lane: a refresh meanwhile neither loses lastSyncTime nor writes it twice', async () => {
    const { h, key, wroteAt } = await syncedThenChanged();
    h.status.close();
    await h.push(key);
    const calls = h.status.calls.length;
    h.clock.t += 5_000;
    await h.run(key, { priority: Priority.Periodic }); // the Secret is unchanged: same status as pending
    expect(h.status.calls.length).toBe(calls);
    h.status.open();
    await h.settle();
    expect(h.syncs.get(key)?.status?.lastSyncTime).toBe(new Date(wroteAt).toISOString().replace(/\.\d+Z$/, 'Z'));
    expect(h.status.calls.length).toBe(calls);
  });

  it('writes the latest status of a key last, once the one in flight is done', async () => {
    const h = setup(1);
    const key = h.keys[0]!;
    await h.run(key);
    h.status.close();
    h.vault.put('secret/myapp/config', { password: 'two' }, 2);
    await h.push(key);
    h.vault.put('secret/myapp/config', { password: 'three' }, 3);
    await h.push(key); // its status replaces the one waiting... behind the one in flight
    h.status.open();
    await h.settle();
    await h.settle();
    expect(h.syncs.get(key)?.status?.vaultVersion).toBe(3);
    expect(h.status.calls.map((c) => c.status.vaultVersion)).toEqual([1, 2, 3]);
  });

  it('hands a status it could not write back to the queue, and the next reconcile writes it', async () => {
    const { h, key, wroteAt } = await syncedThenChanged();
    h.status.fail(true);
    await h.push(key);
    await h.settle();
    expect(h.failed).toEqual([key]);
    expect(h.syncs.get(key)?.status?.vaultVersion).toBe(1);
    h.status.fail(false);
    h.clock.t += 10_000;
    await h.run(key, { priority: Priority.Periodic }); // the retry: Secret unchanged, status still owed
    await h.settle();
    expect(h.syncs.get(key)?.status?.vaultVersion).toBe(2);
    expect(h.syncs.get(key)?.status?.lastSyncTime).toBe(new Date(wroteAt).toISOString().replace(/\.\d+Z$/, 'Z'));
    expect(h.lane.size).toBe(0);
  });

  it('writes no status after close (a replica that stopped leading)', async () => {
    const h = setup(1);
    const key = h.keys[0]!;
    await h.run(key);
    h.status.close();
    h.vault.put('secret/myapp/config', { password: 'two' }, 2);
    await h.push(key);
    h.lane.close();
    h.lane.submit(key, { vaultVersion: 9 });
    h.status.open();
    await h.settle();
    expect(h.syncs.get(key)?.status?.vaultVersion).toBe(1);
    expect(h.lane.size).toBe(0);
  });
});
