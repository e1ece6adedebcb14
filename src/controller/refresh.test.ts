import { describe, expect, it } from 'vitest';
import type { SecretSync } from '../api/index.js';
import { Priority, type Request } from '../scheduler/index.js';
import { reconcile } from './reconcile.js';
import { FORCE_SYNC_ANNOTATION, RefreshMemory, forceSyncToken } from './refresh-policy.js';
import { updateMatters } from './secretsync-controller.js';
import { fakeDeps, secretSync, KEY, NS } from './testing/fakes.js';

/** Reconcile under each refresh policy, force-sync and the restart hook, with in-memory fakes. */

function setup(edit?: (s: SecretSync) => void) {
  const h = fakeDeps();
  const memory = new RefreshMemory();
  const changes: { key: string; digest: string }[] = [];
  h.deps.memory = memory;
  h.deps.restarts = {
    noteChange: (sync, digest) => changes.push({ key: `${sync.metadata.namespace}/${sync.metadata.name}`, digest }),
  };
  h.syncs.set(secretSync(edit));
  h.vault.put('secret/myapp/config', { password: 'one' }, 1);
  return { ...h, memory, changes };
}
type H = ReturnType<typeof setup>;

const run = (h: H, over: Partial<Request> = {}) =>
  reconcile({ key: KEY, priority: Priority.New, fresh: false, ...over }, h.deps, new AbortController().signal);

const edit = (h: H, fn: (s: SecretSync) => void) => {
  const s = h.syncs.get(KEY)!;
  fn(s);
  h.syncs.set(s);
};
const ready = (h: H) => h.syncs.get(KEY)?.status?.conditions?.find((c) => c.type === 'Ready');
const password = (h: H) => Buffer.from(h.store.current(NS, 'myapp')?.data.password ?? '', 'base64').toString();
const policy = (p: 'Periodic' | 'OnChange' | 'CreatedOnce') => (s: SecretSync) => {
  s.spec.refresh.policy = p;
};

describe('refresh policy Periodic (default)', () => {
  it('reads every time and asks to be looked at again', async () => {
    const h = setup();
    const first = await run(h);
    expect(first.requeueAfterMs).toBeGreaterThan(0);
    h.vault.put('secret/myapp/config', { password: 'two' }, 2);
    await run(h, { priority: Priority.Periodic });
    expect(password(h)).toBe('two');
    expect(h.vault.requests).toHaveLength(2);
    expect(ready(h)?.message).toBe('Secret myapp matches Vault version 2');
  });
});

describe('refresh policy OnChange', () => {
  it('reads at creation, then not again until the spec changes; no timer', async () => {
    const h = setup(policy('OnChange'));
    expect(await run(h)).toEqual({ reachedDependencies: true });
    expect(ready(h)?.message).toContain('holds Vault version 1 as last read');
    h.vault.put('secret/myapp/config', { password: 'two' }, 2);
    const statusWrites = h.syncs.statusWrites.length;
    expect(await run(h)).toEqual({});
    expect(h.vault.requests).toHaveLength(1);
    expect(password(h)).toBe('one');
    expect(h.syncs.statusWrites).toHaveLength(statusWrites); // nothing to say: no status churn
    edit(h, (s) => {
      s.metadata.generation = 2;
      s.spec.data = [{ secretKey: 'password', property: 'password' }];
    });
    await run(h);
    expect(h.vault.requests).toHaveLength(2);
    expect(password(h)).toBe('two');
  });

  it('reads fresh on a push', async () => {
    const h = setup(policy('OnChange'));
    await run(h);
    await run(h, { fresh: true, priority: Priority.Push });
    expect(h.vault.requests.map((r) => r.fresh)).toEqual([false, true]);
  });

  it('repairs a Secret edited by hand or deleted (read again, through the shared cache)', async () => {
    const h = setup(policy('OnChange'));
    await run(h);
    h.store.edit(NS, 'myapp', (s) => (s.data.password = Buffer.from('tampered').toString('base64')));
    await run(h);
    expect(password(h)).toBe('one');
    expect(h.vault.requests.map((r) => r.fresh)).toEqual([false, false]);
    await h.store.delete(NS, 'myapp', h.store.current(NS, 'myapp')!.metadata.uid!);
    await run(h);
    expect(password(h)).toBe('one');
    expect(h.vault.requests).toHaveLength(3);
  });

  it('after a restart (nothing remembered) trusts a Secret synced at this generation', async () => {
    const h = setup(policy('OnChange'));
    await run(h);
    h.memory.forget(KEY);
    await run(h);
    expect(h.vault.requests).toHaveLength(1);
  });

  it('reads again after a failure, and when a source asked to be looked at by a time (lease hook)', async () => {
    const h = setup(policy('OnChange'));
    await run(h);
    h.memory.set(KEY, { ...h.memory.get(KEY)!, dueAt: h.clock.t + 1000 });
    await run(h);
    expect(h.vault.requests).toHaveLength(1);
    h.clock.t += 1000;
    await run(h);
    expect(h.vault.requests).toHaveLength(2);
  });
});

describe('refresh policy CreatedOnce', () => {
  it('writes once, then neither reads nor writes while the Secret exists; deleted, it is created again', async () => {
    const h = setup(policy('CreatedOnce'));
    expect(await run(h)).toEqual({ reachedDependencies: true });
    const lastSync = h.syncs.get(KEY)?.status?.lastSyncTime;
    expect(ready(h)?.message).toContain('CreatedOnce neither reads nor writes it again');
    h.vault.put('secret/myapp/config', { password: 'two' }, 2);
    h.clock.t += 60_000;
    expect(await run(h, { fresh: true, priority: Priority.Push })).toEqual({});
    edit(h, (s) => {
      s.metadata.generation = 2;
      s.spec.target.labels = { team: 'a' };
    });
    await run(h);
    expect(h.vault.requests).toHaveLength(1);
    expect(h.store.writes.map((w) => w.op)).toEqual(['create']);
    expect(password(h)).toBe('one');
    expect(h.syncs.get(KEY)?.status).toMatchObject({ lastSyncTime: lastSync, vaultVersion: 1, observedGeneration: 2 });
    expect(ready(h)).toMatchObject({ status: 'True', reason: 'Synced' });

    await h.store.delete(NS, 'myapp', h.store.current(NS, 'myapp')!.metadata.uid!);
    await run(h);
    expect(password(h)).toBe('two');
    expect(h.vault.requests.map((r) => r.fresh)).toEqual([true, true]); // past any shared read
    expect(h.changes).toEqual([]); // created over nothing: no restart
  });

  it('a force-sync is reported as ignored, once', async () => {
    const h = setup(policy('CreatedOnce'));
    await run(h);
    edit(h, (s) => (s.metadata.annotations = { [FORCE_SYNC_ANNOTATION]: '1700000000' }));
    await run(h);
    await run(h);
    expect(h.vault.requests).toHaveLength(1);
    expect(h.events.filter((e) => e.reason === 'ForceSyncIgnored')).toHaveLength(1);
    expect(h.syncs.get(KEY)?.status?.lastForceSync).toBe('1700000000');
  });
});

describe('force-sync annotation', () => {
  it('a new value means one fresh read, recorded in status; the same value again reads nothing fresh', async () => {
    const h = setup(policy('OnChange'));
    await run(h);
    edit(h, (s) => (s.metadata.annotations = { [FORCE_SYNC_ANNOTATION]: 'a' }));
    h.vault.put('secret/myapp/config', { password: 'two' }, 2);
    await run(h);
    expect(password(h)).toBe('two');
    expect(h.syncs.get(KEY)?.status?.lastForceSync).toBe('a');
    await run(h);
    expect(h.vault.requests.map((r) => r.fresh)).toEqual([false, true]);
  });

  it('under Periodic, the forced read bypasses the shared cache and later ones do not', async () => {
    const h = setup();
    await run(h);
    edit(h, (s) => (s.metadata.annotations = { [FORCE_SYNC_ANNOTATION]: 'x' }));
    await run(h);
    await run(h, { priority: Priority.Periodic });
    expect(h.vault.requests.map((r) => r.fresh)).toEqual([false, true, false]);
  });

  it('a failed forced read stays pending (retried fresh), and status does not claim it', async () => {
    const h = setup();
    await run(h);
    edit(h, (s) => (s.metadata.annotations = { [FORCE_SYNC_ANNOTATION]: 'y' }));
    h.vault.fail('secret/myapp/config', new Error('boom'));
    await expect(run(h)).rejects.toThrow();
    expect(h.syncs.get(KEY)?.status?.lastForceSync).toBeUndefined();
    h.vault.put('secret/myapp/config', { password: 'three' }, 3);
    await run(h);
    expect(h.vault.requests.map((r) => r.fresh)).toEqual([false, true, true]);
    expect(h.syncs.get(KEY)?.status?.lastForceSync).toBe('y');
  });

  it('long values are recorded as a digest of bounded length', () => {
    const long = secretSync((s) => (s.metadata.annotations = { [FORCE_SYNC_ANNOTATION]: 'v'.repeat(1000) }));
    expect(forceSyncToken(long)).toMatch(/^sha256:[0-9a-f]{64}$/);
  });

  it('the watch filter lets a new value through, not our own status writes', () => {
    const a = secretSync();
    const withStatus = secretSync((s) => (s.status = { lastForceSync: 'a' }));
    expect(updateMatters(withStatus, a)).toBe(false);
    const annotated = secretSync((s) => (s.metadata.annotations = { [FORCE_SYNC_ANNOTATION]: 'a' }));
    expect(updateMatters(annotated, a)).toBe(true);
    expect(updateMatters(annotated, annotated)).toBe(false);
    const other = secretSync((s) => (s.metadata.annotations = { unrelated: 'x' }));
    expect(updateMatters(other, a)).toBe(false);
  });
});

describe('restart hook', () => {
  it('is told only when the data of an existing Secret changed', async () => {
    const h = setup((s) => (s.spec.rolloutRestartTargets = [{ kind: 'Deployment', name: 'web' }]));
    await run(h); // created over nothing
    await run(h, { priority: Priority.Periodic }); // nothing new
    edit(h, (s) => {
      s.metadata.generation = 2;
      s.spec.target.labels = { team: 'a' }; // a metadata-only update
    });
    await run(h);
    expect(h.store.writes.map((w) => w.op)).toEqual(['create', 'update']);
    expect(h.changes).toEqual([]);
    h.vault.put('secret/myapp/config', { password: 'two' }, 2);
    await run(h, { priority: Priority.Periodic });
    expect(h.changes).toHaveLength(1);
    expect(h.changes[0]?.digest).toMatch(/^[0-9a-f]{64}$/);
    expect(h.changes[0]?.digest).not.toContain(Buffer.from('two').toString('hex'));
  });

  it('a first sync over an existing identical Secret of ours is no change', async () => {
    const first = setup();
    await run(first);
    const h = setup();
    h.store.seed(first.store.current(NS, 'myapp')!);
    await run(h);
    expect(h.store.writes).toEqual([]);
    expect(h.changes).toEqual([]);
  });
});
