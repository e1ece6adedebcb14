/**
 * Reads shared by the SecretSyncs of one read group through the real coalescing reader (its Vault
 * fetch counted): the readers of one push, the startup readers of a group, and when they come due.
 */
import { describe, expect, it } from 'vitest';
import type { SecretSync } from '../api/index.js';
import { Priority, phaseMs, type Request } from '../scheduler/index.js';
import { kvSource } from '../sources/index.js';
import { CoalescingReader } from '../vault/coalesce.js';
import { createCountingVaultMetrics, readGroupKey } from '../vault/index.js';
import { identityFor } from './identity.js';
import { reconcile } from './reconcile.js';
import { RefreshMemory } from './refresh-policy.js';
import { decoded, fakeDeps, secretSync, NS } from './testing/fakes.js';

const INTERVAL = 60_000;

function setup(count: number) {
  const h = fakeDeps({ refresh: { defaultMs: INTERVAL, minMs: 1_000 }, readCacheTtlMs: 30_000 });
  const fetched: { fresh: boolean; at: number }[] = [];
  const reader = new CoalescingReader({
    fetch: (req) => {
      fetched.push({ fresh: req.fresh === true, at: h.clock.t });
      return h.vault.readKv(req);
    },
    cacheTtlMs: 30_000,
    clock: { now: () => h.clock.t },
    metrics: createCountingVaultMetrics(),
  });
  h.deps.sources = [kvSource(reader)];
  h.deps.memory = new RefreshMemory();
  const keys: string[] = [];
  for (let i = 0; i < count; i++) {
    // One identity (ServiceAccount myapp in NS), one path: one read group.
    const sync = secretSync((s) => {
      s.metadata.name = `app-${i}`;
      s.metadata.uid = `uid-${i}`;
      s.spec.target.name = `app-${i}`;
    });
    h.syncs.set(sync);
    keys.push(`${NS}/app-${i}`);
  }
  h.vault.put('secret/myapp/config', { password: 'one' }, 1);
  const run = (key: string, over: Partial<Request> = {}) =>
    reconcile({ key, priority: Priority.New, fresh: false, ...over }, h.deps, new AbortController().signal);
  const password = (i: number) => decoded(h.store.current(NS, `app-${i}`))?.password;
  const group = readGroupKey(identityFor(h.syncs.get(keys[0]!) as SecretSync, h.deps.settings), {
    mount: 'secret',
    path: 'myapp/config',
  });
  return { ...h, fetched, keys, run, password, group };
}

describe('reads shared within a read group', () => {
  it('serves every SecretSync of one push with one fresh read, however the workers space them', async () => {
    const h = setup(6);
    for (const key of h.keys) await h.run(key);
    expect(h.fetched).toHaveLength(1);
    h.clock.t += 120_000; // the startup read is long gone from the cache
    h.vault.put('secret/myapp/config', { password: 'two' }, 2);
    const push = h.clock.t;
    // Two in flight together, the rest one after another (workers busy elsewhere in between).
    await Promise.all(
      h.keys.slice(0, 2).map((key) => h.run(key, { priority: Priority.Push, fresh: true, freshSince: push })),
    );
    for (const key of h.keys.slice(2)) {
      h.clock.t += 150;
      await h.run(key, { priority: Priority.Push, fresh: true, freshSince: push });
    }
    expect(h.fetched.filter((f) => f.fresh)).toHaveLength(1);
    expect(h.keys.map((_, i) => h.password(i))).toEqual(Array(6).fill('two'));
    // The next push is not served by that read: it may announce a later change.
    h.vault.put('secret/myapp/config', { password: 'three' }, 3);
    h.clock.t += 10;
    await h.run(h.keys[0]!, { priority: Priority.Push, fresh: true, freshSince: h.clock.t });
    expect(h.password(0)).toBe('three');
    expect(h.fetched.filter((f) => f.fresh)).toHaveLength(2);
  });

  it("lets a group's startup readers share its first read up to the cache TTL, and nobody else", async () => {
    const h = setup(4);
    const startup = new Set(h.keys.slice(0, 3));
    h.deps.startupReaders = startup;
    // The lanes' turns come 8 s apart: more than the 6 s a periodic refresh accepts (a tenth of 60 s).
    for (const key of h.keys.slice(0, 3)) {
      await h.run(key);
      h.clock.t += 8_000;
    }
    expect(h.fetched).toHaveLength(1);
    expect(startup.size).toBe(0); // each key is a startup reader once
    // A SecretSync that is not a startup reader (created later) does not take a 24 s old read.
    await h.run(h.keys[3]!);
    expect(h.fetched).toHaveLength(2);
  });

  it('reads nothing for the echo of its own write, a shared read being no older than its Secret', async () => {
    const h = setup(1);
    const key = h.keys[0]!;
    h.clock.t = Math.ceil(h.clock.t / INTERVAL) * INTERVAL + phaseMs(h.group, INTERVAL) - 20_000;
    const first = await h.run(key);
    const due = h.clock.t + (first.requeueAfterMs ?? NaN);
    // The watch delivered our own Secret write before its answer: the key runs again, 10 s later
    // (past the 6 s window of a refresh), woken as if the Secret had been changed.
    h.clock.t += 10_000;
    const again = await h.run(key);
    expect(h.fetched).toHaveLength(1);
    expect(h.clock.t + (again.requeueAfterMs ?? NaN)).toBe(due);
    // A periodic refresh keeps the short window.
    await h.run(key, { priority: Priority.Periodic });
    expect(h.fetched).toHaveLength(2);
    // A spec change reads again, as a new SecretSync would.
    h.clock.t += 10_000;
    const changed = h.syncs.get(key)!;
    changed.metadata.generation = 2;
    h.syncs.set(changed);
    await h.run(key);
    expect(h.fetched).toHaveLength(3);
  });

  it('reads nothing for an echo that comes after the read cache forgot the read, nor for a repeated event', async () => {
    const h = setup(2);
    const [key, other] = [h.keys[0]!, h.keys[1]!];
    const first = await h.run(key);
    const due = h.clock.t + (first.requeueAfterMs ?? NaN);
    // The echo re-queued the key behind a long initial list: it runs 50 s later, past the 30 s the
    // read cache keeps the group's read. The Secret is the very object written: nothing to do.
    h.clock.t += 50_000;
    const again = await h.run(key);
    expect(h.fetched).toHaveLength(1);
    expect(h.clock.t + (again.requeueAfterMs ?? NaN)).toBe(due);
    await h.run(key);
    expect(h.fetched).toHaveLength(1);
    expect(h.store.writes).toHaveLength(1);
    // A change in Vault is the refresh's to find, and it does.
    h.vault.put('secret/myapp/config', { password: 'two' }, 2);
    await h.run(key, { priority: Priority.Periodic });
    expect(h.fetched).toHaveLength(2);
    expect(h.password(0)).toBe('two');
    // A hand edit of the Secret (a new resourceVersion) is repaired from a read as before.
    h.clock.t += 50_000;
    h.store.edit(NS, 'app-0', (s) => (s.data.password = Buffer.from('hacked').toString('base64')));
    await h.run(key);
    expect(h.fetched).toHaveLength(3);
    expect(h.password(0)).toBe('two');
    // A SecretSync whose status does not say Ready for its generation is not settled.
    await h.run(other); // its first sync shares the repair's read
    h.clock.t += 50_000;
    await h.run(other);
    expect(h.fetched).toHaveLength(3);
    const sync = h.syncs.get(other)!;
    sync.status = { ...sync.status, observedGeneration: 0 };
    h.syncs.set(sync);
    await h.run(other);
    expect(h.fetched).toHaveLength(4);
  });

  it('is not settled while the status of its last write failed to be written', async () => {
    const h = setup(1);
    const key = h.keys[0]!;
    await h.run(key);
    h.vault.put('secret/myapp/config', { password: 'two' }, 2);
    h.clock.t += 50_000;
    const patch = h.deps.status.patchStatus.bind(h.deps.status);
    h.deps.status = { patchStatus: () => Promise.reject(new Error('apiserver down')) };
    await expect(h.run(key, { priority: Priority.Periodic })).rejects.toThrow();
    expect(h.password(0)).toBe('two'); // written; its status (version 2) was not
    h.deps.status = { patchStatus: patch };
    // The echo of that write comes before the retry: it must not settle on the stale status.
    await h.run(key);
    expect(h.syncs.get(key)?.status?.conditions?.find((c) => c.type === 'Ready')?.message).toContain('version 2');
  });

  it('brings the SecretSyncs that shared one read back together, at the first slot after that read', async () => {
    const h = setup(3);
    h.deps.startupReaders = new Set(h.keys);
    // Put the read 20 s before the group's slot; the readers finish 0, 9 and 19 s after it.
    const phase = phaseMs(h.group, INTERVAL);
    h.clock.t = Math.ceil(h.clock.t / INTERVAL) * INTERVAL + phase - 20_000;
    const readAt = h.clock.t;
    const due: number[] = [];
    for (const after of [0, 9_000, 19_000]) {
      h.clock.t = readAt + after;
      const key = h.keys[due.length]!;
      const { requeueAfterMs } = await h.run(key);
      due.push(h.clock.t + (requeueAfterMs ?? NaN));
    }
    expect(h.fetched).toHaveLength(1);
    expect(due).toEqual([readAt + 20_000, readAt + 20_000, readAt + 20_000]);
  });

  it('does not bring a group read by the initial sync back before an interval after the initial list', async () => {
    const h = setup(2);
    h.deps.startupReaders = new Set(h.keys);
    const phase = phaseMs(h.group, INTERVAL);
    // The group's slot comes 20 s into the initial sync; the group is read 5 s in.
    const listedAt = Math.ceil(h.clock.t / INTERVAL) * INTERVAL + phase - 20_000;
    h.deps.initialListAt = () => listedAt;
    h.clock.t = listedAt + 5_000;
    const first = await h.run(h.keys[0]!);
    expect(h.clock.t + (first.requeueAfterMs ?? NaN)).toBe(listedAt + 20_000 + INTERVAL);
    // The other reader, 10 s later, and the first one's echo 40 s later keep that slot.
    h.clock.t += 10_000;
    const second = await h.run(h.keys[1]!);
    expect(h.clock.t + (second.requeueAfterMs ?? NaN)).toBe(listedAt + 20_000 + INTERVAL);
    h.clock.t += 40_000;
    const echo = await h.run(h.keys[0]!);
    expect(h.clock.t + (echo.requeueAfterMs ?? NaN)).toBe(listedAt + 20_000 + INTERVAL);
    expect(h.fetched).toHaveLength(1);
    // From the first refresh on, an interval apart on the phase.
    h.clock.t = listedAt + 20_000 + INTERVAL;
    const refresh = await h.run(h.keys[0]!, { priority: Priority.Periodic });
    expect(refresh.requeueAfterMs).toBe(INTERVAL);
    expect(h.fetched).toHaveLength(2);
  });

  it('refreshes at once a startup reader that finished after the slot its shared read called for', async () => {
    const h = setup(2);
    h.deps.startupReaders = new Set(h.keys);
    const phase = phaseMs(h.group, INTERVAL);
    h.clock.t = Math.ceil(h.clock.t / INTERVAL) * INTERVAL + phase - 10_000;
    await h.run(h.keys[0]!);
    h.clock.t += 25_000; // the slot (10 s after the read) has passed
    const { requeueAfterMs } = await h.run(h.keys[1]!);
    expect(h.fetched).toHaveLength(1);
    expect(requeueAfterMs).toBe(1);
  });
});
