import { describe, expect, it } from 'vitest';
import { recordingLogger, type LogEntry } from '../core/testing/logger.js';
import { SyncError } from '../errors.js';
import type { LeaseRenewal, VaultIdentity, VaultLeases } from '../vault/types.js';
import { LeaseKeeper, type Issued, type Want } from './lease-keeper.js';
import { parseLeaseRecord, type LeaseRecord, type LeaseRecordStore } from './lease-record.js';

const identity: VaultIdentity = {
  address: 'http://vault:8200',
  authMount: 'kubernetes',
  role: 'app',
  serviceAccount: { namespace: 'ns', name: 'app' },
  audiences: ['vault'],
};

/** A Vault with leases of `ttl` seconds that cannot live past `maxTtl` from issue. */
class FakeLeases implements VaultLeases {
  leases = new Map<string, { expiresAt: number; maxAt: number }>();
  calls: string[] = [];
  down = false;
  #n = 0;
  constructor(
    private readonly now: () => number,
    private readonly ttl = 60,
    private readonly maxTtl = 300,
  ) {}
  mint(): Issued {
    const id = `database/creds/app/L${++this.#n}`;
    const now = this.now();
    this.leases.set(id, { expiresAt: now + this.ttl * 1000, maxAt: now + this.maxTtl * 1000 });
    return {
      leaseId: id,
      renewable: true,
      data: { username: `u${this.#n}`, password: `p${this.#n}` },
      durationMs: this.ttl * 1000,
      expiresAt: now + this.ttl * 1000,
      renewBeforeMs: (this.ttl * 1000) / 3,
    };
  }
  issue(): Promise<never> {
    throw new Error('not used: Want.issue mints');
  }
  renew(req: { leaseId: string; incrementSeconds?: number }): Promise<LeaseRenewal | 'gone'> {
    this.calls.push('renew');
    if (this.down) return Promise.reject(new SyncError('VaultUnavailable', 'down'));
    const lease = this.leases.get(req.leaseId);
    const now = this.now();
    if (lease === undefined || lease.expiresAt <= now) return Promise.resolve('gone');
    const granted = Math.min(req.incrementSeconds ?? this.ttl, Math.floor((lease.maxAt - now) / 1000));
    lease.expiresAt = now + granted * 1000;
    return Promise.resolve({ leaseDurationSeconds: granted, renewable: true });
  }
  revoke(req: { leaseId: string }): Promise<void> {
    this.calls.push('revoke');
    if (this.down) return Promise.reject(new SyncError('VaultUnavailable', 'down'));
    this.leases.delete(req.leaseId);
    return Promise.resolve();
  }
  lookup(): Promise<undefined> {
    return Promise.resolve(undefined);
  }
  live(now: number): string[] {
    return [...this.leases].filter(([, l]) => l.expiresAt > now).map(([id]) => id);
  }
}

/** Records as JSON, as the Kubernetes store keeps them; `failPuts` refuses writes. */
class MemoryRecords implements LeaseRecordStore {
  stored = new Map<string, string>();
  failPuts = false;
  puts = 0;
  list(): Promise<LeaseRecord[]> {
    return Promise.resolve([...this.stored.values()].map((j) => parseLeaseRecord(j)).filter((r) => r !== undefined));
  }
  put(record: LeaseRecord): Promise<void> {
    if (this.failPuts) return Promise.reject(new SyncError('KubernetesApiError', 'refused'));
    this.puts += 1;
    this.stored.set(record.key, JSON.stringify(record));
    return Promise.resolve();
  }
  delete(key: string): Promise<void> {
    this.stored.delete(key);
    return Promise.resolve();
  }
}

function setup(o: { ttl?: number; maxTtl?: number; graceMs?: number } = {}) {
  let now = 1_000_000;
  const clock = { now: () => now };
  const vault = new FakeLeases(clock.now, o.ttl, o.maxTtl);
  const records = new MemoryRecords();
  const logs: LogEntry[] = [];
  const make = () =>
    new LeaseKeeper({
      vault,
      records,
      clock,
      log: recordingLogger(logs),
      revokeGraceMs: o.graceMs ?? 10_000,
      rand: () => 0,
    });
  let issues = 0;
  const want = (over: Partial<Want> = {}): Want => ({
    key: 'ns/app',
    uid: 'uid-1',
    slot: '0',
    liveSlots: new Set(['0']),
    identity,
    fingerprint: 'fp-1',
    tenant: 'ns',
    priority: 0,
    issue: () => {
      issues += 1;
      return Promise.resolve(vault.mint());
    },
    ...over,
  });
  return {
    vault,
    records,
    logs,
    make,
    want,
    issues: () => issues,
    advance: (ms: number) => (now += ms),
    now: () => now,
  };
}

const signal = new AbortController().signal;

describe('LeaseKeeper', () => {
  it('issues once, renews at about 2/3 of the TTL, and writes the record only when credentials change', async () => {
    const t = setup();
    const keeper = t.make();
    const first = await keeper.obtain(t.want(), signal);
    expect(first.data).toEqual({ username: 'u1', password: 'p1' });
    expect(first.refreshWithinMs).toBe(40_000);
    expect(t.records.puts).toBe(1);
    t.advance(20_000);
    await keeper.obtain(t.want(), signal);
    expect(t.vault.calls).toEqual([]); // nothing due: no Vault request
    t.advance(20_000);
    const renewed = await keeper.obtain(t.want(), signal);
    expect(t.vault.calls).toEqual(['renew']);
    expect(renewed.data).toEqual(first.data);
    expect(t.records.puts).toBe(1);
    expect(t.issues()).toBe(1);
  });

  it('issues new credentials before the max TTL and revokes the old lease after the grace period', async () => {
    const t = setup({ ttl: 60, maxTtl: 100, graceMs: 10_000 });
    const keeper = t.make();
    await keeper.obtain(t.want(), signal);
    t.advance(40_000); // renew: granted 60 (until 100)
    await keeper.obtain(t.want(), signal);
    t.advance(40_000); // renew: granted 20 < 60, capped; re-issue at 100 - 20 = now
    const next = await keeper.obtain(t.want(), signal);
    expect(next.data).toEqual({ username: 'u2', password: 'p2' });
    expect(next.generation).toBe(2);
    expect(t.vault.live(t.now())).toHaveLength(2);
    t.advance(10_000);
    await keeper.obtain(t.want(), signal);
    expect(t.vault.live(t.now())).toEqual(['database/creds/app/L2']);
  });

  it('after a restart finds the lease again: renews it, issues nothing', async () => {
    const t = setup();
    await t.make().obtain(t.want(), signal);
    t.advance(5_000);
    const restarted = t.make();
    const again = await restarted.obtain(t.want(), signal);
    expect(again.data).toEqual({ username: 'u1', password: 'p1' });
    expect(t.issues()).toBe(1);
    expect(t.vault.calls).toEqual(['renew']);
  });

  it('issues new credentials when the lease was revoked behind its back', async () => {
    const t = setup();
    const keeper = t.make();
    await keeper.obtain(t.want(), signal);
    t.vault.leases.clear();
    t.advance(40_000);
    const next = await keeper.obtain(t.want(), signal);
    expect(next.data.username).toBe('u2');
  });

  it('keeps the current credentials when Vault is down at renewal, and fails', async () => {
    const t = setup();
    const keeper = t.make();
    await keeper.obtain(t.want(), signal);
    t.vault.down = true;
    t.advance(40_000);
    await expect(keeper.obtain(t.want(), signal)).rejects.toMatchObject({ reason: 'VaultUnavailable' });
    t.vault.down = false;
    t.advance(1_000);
    const after = await keeper.obtain(t.want(), signal);
    expect(after.data.username).toBe('u1');
    expect(t.issues()).toBe(1);
  });

  it('a failed re-issue leaves the held lease unretired', async () => {
    const t = setup({ ttl: 60, maxTtl: 60 });
    const keeper = t.make();
    await keeper.obtain(t.want(), signal);
    t.advance(45_000);
    const failing = t.want({ issue: () => Promise.reject(new SyncError('VaultUnavailable', 'down')) });
    await expect(keeper.obtain(failing, signal)).rejects.toMatchObject({ reason: 'VaultUnavailable' });
    expect(t.vault.calls.filter((c) => c === 'revoke')).toEqual([]);
    const record = parseLeaseRecord(t.records.stored.get('ns/app') ?? '');
    expect(record?.retiring).toEqual([]);
    expect(record?.slots['0']?.leaseId).toBe('database/creds/app/L1');
  });

  it('revokes a lease whose record could not be written', async () => {
    const t = setup();
    t.records.failPuts = true;
    await expect(t.make().obtain(t.want(), signal)).rejects.toMatchObject({ reason: 'KubernetesApiError' });
    expect(t.vault.live(t.now())).toEqual([]);
  });

  it('retires a slot whose source changed or went, and everything on release', async () => {
    const t = setup({ graceMs: 0 });
    const keeper = t.make();
    await keeper.obtain(t.want(), signal);
    await keeper.obtain(t.want({ slot: '1', liveSlots: new Set(['0', '1']) }), signal);
    expect(t.vault.live(t.now())).toHaveLength(2);
    await keeper.obtain(t.want({ fingerprint: 'fp-2', liveSlots: new Set(['0']) }), signal);
    expect(t.vault.live(t.now())).toEqual(['database/creds/app/L3']);
    await keeper.release('ns/app', signal);
    expect(t.vault.live(t.now())).toEqual([]);
    expect(t.records.stored.size).toBe(0);
  });

  it('a sweep revokes what records of SecretSyncs gone meanwhile hold, and keeps live ones', async () => {
    const t = setup();
    const keeper = t.make();
    await keeper.obtain(t.want(), signal);
    await keeper.obtain(t.want({ key: 'ns/other', uid: 'uid-2' }), signal);
    const restarted = t.make();
    const { released } = await restarted.sweep(
      (key, uid) => (key === 'ns/app' && uid === 'uid-1' ? new Set(['0']) : undefined),
      signal,
    );
    expect(released).toBe(1);
    expect(t.vault.live(t.now())).toEqual(['database/creds/app/L1']);
    expect([...t.records.stored.keys()]).toEqual(['ns/app']);
  });

  it('a sweep retires the slots a live SecretSync no longer has', async () => {
    const t = setup({ graceMs: 0 });
    const keeper = t.make();
    await keeper.obtain(t.want(), signal);
    await keeper.sweep(() => new Set<string>(), signal);
    expect(t.vault.live(t.now())).toEqual([]);
  });

  it('a release that cannot revoke keeps the record for the sweep', async () => {
    const t = setup();
    const keeper = t.make();
    await keeper.obtain(t.want(), signal);
    t.vault.down = true;
    await keeper.release('ns/app', signal);
    expect(t.records.stored.has('ns/app')).toBe(true);
    t.vault.down = false;
    await keeper.sweep(() => undefined, signal);
    expect(t.vault.live(t.now())).toEqual([]);
    expect(t.records.stored.size).toBe(0);
  });

  it('never logs lease ids or credentials', async () => {
    const t = setup({ ttl: 60, maxTtl: 100, graceMs: 0 });
    const keeper = t.make();
    for (let i = 0; i < 6; i++) {
      await keeper.obtain(t.want(), signal);
      t.advance(40_000);
    }
    t.vault.down = true;
    await keeper.release('ns/app', signal);
    const text = JSON.stringify(t.logs);
    expect(text).not.toMatch(/creds\/app\/L|"p\d|"u\d/);
  });
});
