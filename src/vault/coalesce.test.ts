import { describe, expect, it } from 'vitest';
import { fakeVaultPerTest, rejection } from './testing/testkit.js';

const vault = fakeVaultPerTest((f) => {
  f.put('secret/app/config', { password: 'p1', nested: { list: [1, 2] } });
});
const setup = vault.setup;

describe('read coalescing', () => {
  it('serves 20 concurrent reads of one path with one Vault read, all sharing one frozen copy', async () => {
    vault.fake.delayMs = 30;
    const h = setup();
    const id = h.id();
    const results = await Promise.all(
      Array.from({ length: 20 }, () => h.reader.readKv({ identity: id, mount: 'secret', path: 'app/config' })),
    );
    expect(vault.fake.reads).toHaveLength(1);
    expect(results.every((r) => r.data.password === 'p1' && r.version === 1)).toBe(true);
    // One object graph for all callers (no copy each), and none of them can change it for the others.
    expect(results.every((r) => r === results[0])).toBe(true);
    expect(() => (results[0]!.data.nested as { list: number[] }).list.push(3)).toThrow(TypeError);
    expect(() => {
      results[0]!.data.password = 'mutated';
    }).toThrow(TypeError);
    expect(results[1]!.data).toEqual({ password: 'p1', nested: { list: [1, 2] } });
    const cached = await h.reader.readKv({ identity: id, mount: 'secret', path: 'app/config' });
    expect(cached.data).toEqual({ password: 'p1', nested: { list: [1, 2] } });
    expect(vault.fake.reads).toHaveLength(1);
    expect(h.metrics.counts.cacheHits.read).toBe(1);
  });

  it('keeps a result for readCacheTtlMs of the injected clock', async () => {
    const h = setup({ config: { readCacheTtlMs: 5000 } });
    const read = () => h.reader.readKv({ identity: h.id(), mount: 'secret', path: 'app/config' });
    await read();
    h.clock.advance(4999);
    await read();
    expect(vault.fake.reads).toHaveLength(1);
    h.clock.advance(2);
    await read();
    expect(vault.fake.reads).toHaveLength(2);
  });

  it('serves a cached result only to readers that accept its age (maxAgeMs)', async () => {
    const h = setup({ config: { readCacheTtlMs: 60_000 } });
    const read = (maxAgeMs?: number) =>
      h.reader.readKv({
        identity: h.id(),
        mount: 'secret',
        path: 'app/config',
        ...(maxAgeMs === undefined ? {} : { maxAgeMs }),
      });
    await read();
    h.clock.advance(3_000);
    await read(5_000);
    expect(vault.fake.reads).toHaveLength(1);
    await read(2_000); // the cached result is 3 s old: too old for this reader
    expect(vault.fake.reads).toHaveLength(2);
    h.clock.advance(1_000);
    await read(2_000); // the new result is 1 s old
    expect(vault.fake.reads).toHaveLength(2);
  });

  it('bypasses the cache for a fresh read, and caches what it got', async () => {
    const h = setup();
    const id = h.id();
    await h.reader.readKv({ identity: id, mount: 'secret', path: 'app/config' });
    vault.fake.put('secret/app/config', { password: 'p2' });
    expect((await h.reader.readKv({ identity: id, mount: 'secret', path: 'app/config' })).version).toBe(1);
    const fresh = await h.reader.readKv({ identity: id, mount: 'secret', path: 'app/config', fresh: true });
    expect(fresh).toMatchObject({ version: 2, data: { password: 'p2' } });
    expect((await h.reader.readKv({ identity: id, mount: 'secret', path: 'app/config' })).version).toBe(2);
    expect(vault.fake.reads).toHaveLength(2);
  });

  it('lets a fresh read join only a fresh one in flight, and a plain read only a plain one', async () => {
    vault.fake.delayMs = 50;
    const h = setup();
    const id = h.id();
    await h.reader.readKv({ identity: id, mount: 'secret', path: 'other' }).catch(() => undefined); // login first
    const before = vault.fake.reads.length;
    await Promise.all([
      h.reader.readKv({ identity: id, mount: 'secret', path: 'app/config' }),
      h.reader.readKv({ identity: id, mount: 'secret', path: 'app/config', fresh: true }),
      h.reader.readKv({ identity: id, mount: 'secret', path: 'app/config', fresh: true }),
      h.reader.readKv({ identity: id, mount: 'secret', path: 'app/config' }),
    ]);
    expect(vault.fake.reads.length - before).toBe(2);
  });

  it('serves every reader of one push with one read made since the push, and nothing read before it', async () => {
    vault.fake.delayMs = 20;
    const h = setup({ config: { readCacheTtlMs: 60_000 } });
    const id = h.id();
    const read = (freshSince?: number) =>
      h.reader.readKv({
        identity: id,
        mount: 'secret',
        path: 'app/config',
        fresh: freshSince !== undefined,
        ...(freshSince === undefined ? {} : { freshSince }),
      });
    await read(); // version 1, cached
    h.clock.advance(1_000);
    vault.fake.put('secret/app/config', { password: 'p2' });
    const push = h.clock.now();
    // Readers of the push: some at once (one read in flight), some after it ended (its cached result).
    const first = await Promise.all([read(push), read(push), read(push)]);
    h.clock.advance(500);
    const later = await Promise.all([read(push), read(push)]);
    expect([...first, ...later].map((r) => r.data.password)).toEqual(['p2', 'p2', 'p2', 'p2', 'p2']);
    expect(vault.fake.reads).toHaveLength(2);
    expect(later[0].readAt).toBe(push);
    // A later push is not served by that read: it may announce a change made after it.
    h.clock.advance(10);
    vault.fake.put('secret/app/config', { password: 'p3' });
    expect((await read(h.clock.now())).data.password).toBe('p3');
    expect(vault.fake.reads).toHaveLength(3);
    // A fresh read without a push time (a force-sync) accepts nothing read before it.
    h.clock.advance(1);
    await read(undefined).then(() =>
      h.reader.readKv({ identity: id, mount: 'secret', path: 'app/config', fresh: true }),
    );
    expect(vault.fake.reads).toHaveLength(4);
  });

  it('tells each reader when the shared result was read', async () => {
    const h = setup({ config: { readCacheTtlMs: 60_000 } });
    const id = h.id();
    const t0 = h.clock.now();
    await h.reader.readKv({ identity: id, mount: 'secret', path: 'app/config' });
    h.clock.advance(4_000);
    const shared = await h.reader.readKv({ identity: id, mount: 'secret', path: 'app/config' });
    expect(shared.readAt).toBe(t0);
    expect(vault.fake.reads).toHaveLength(1);
  });

  it('never shares a read between identities', async () => {
    vault.fake.delayMs = 30;
    vault.fake.onRead = (a) =>
      a.role === undefined
        ? undefined
        : { status: 200, body: { data: { data: { who: a.role }, metadata: { version: 1 } } } };
    const h = setup();
    const a = h.id({ role: 'a' });
    const b = h.id({ role: 'b' });
    const results = await Promise.all([
      h.reader.readKv({ identity: a, mount: 'secret', path: 'app/config' }),
      h.reader.readKv({ identity: b, mount: 'secret', path: 'app/config' }),
      h.reader.readKv({ identity: a, mount: 'secret', path: 'app/config' }),
      h.reader.readKv({ identity: b, mount: 'secret', path: 'app/config' }),
    ]);
    expect(results.map((r) => r.data.who)).toEqual(['a', 'b', 'a', 'b']);
    expect(vault.fake.reads).toHaveLength(2);
    // Cached results stay per identity too.
    expect((await h.reader.readKv({ identity: b, mount: 'secret', path: 'app/config' })).data.who).toBe('b');
    expect((await h.reader.readKv({ identity: a, mount: 'secret', path: 'app/config' })).data.who).toBe('a');
    expect(vault.fake.reads).toHaveLength(2);
  });

  it('treats a different CA bundle or Vault namespace as a different identity', async () => {
    const h = setup();
    const base = h.id();
    await h.reader.readKv({ identity: base, mount: 'secret', path: 'app/config' });
    await h.reader.readKv({ identity: { ...base, vaultNamespace: 'x' }, mount: 'secret', path: 'app/config' });
    await h.reader.readKv({ identity: { ...base, caBundle: 'ca' }, mount: 'secret', path: 'app/config' });
    await h.reader.readKv({ identity: { ...base, audiences: ['vault'] }, mount: 'secret', path: 'app/config' });
    expect(vault.fake.reads).toHaveLength(3);
    expect(vault.fake.logins).toHaveLength(3);
  });

  it('does not cache failures', async () => {
    const h = setup();
    const id = h.id();
    vault.fake.onRead = () => ({ status: 503, body: { errors: ['Vault is sealed'] } });
    expect(await rejection(h.reader.readKv({ identity: id, mount: 'secret', path: 'app/config' }))).toMatchObject({
      reason: 'VaultUnavailable',
    });
    vault.fake.onRead = undefined;
    expect((await h.reader.readKv({ identity: id, mount: 'secret', path: 'app/config' })).version).toBe(1);
  });
});

describe('abort and close', () => {
  it('lets one caller abort without failing the others sharing its read', async () => {
    vault.fake.delayMs = 50;
    const h = setup();
    const id = h.id();
    const controller = new AbortController();
    const leaving = h.reader.readKv({ identity: id, mount: 'secret', path: 'app/config' }, controller.signal);
    const staying = h.reader.readKv({ identity: id, mount: 'secret', path: 'app/config' });
    controller.abort();
    expect((await rejection(leaving)).name).toBe('AbortError');
    expect((await staying).data.password).toBe('p1');
  });

  it('fails waiting and later reads with VaultUnavailable once closed', async () => {
    vault.fake.delayMs = 100;
    const h = setup();
    const pending = h.reader.readKv({ identity: h.id(), mount: 'secret', path: 'app/config' });
    await new Promise((r) => setTimeout(r, 20));
    await h.reader.close();
    expect(await rejection(pending)).toMatchObject({ reason: 'VaultUnavailable' });
    expect(await rejection(h.reader.readKv({ identity: h.id(), mount: 'secret', path: 'app/config' }))).toMatchObject({
      reason: 'VaultUnavailable',
      message: 'The Vault client is shut down',
    });
  });
});
