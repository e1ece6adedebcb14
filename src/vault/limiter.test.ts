import { describe, expect, it } from 'vitest';
import { VaultLimiter } from './limiter.js';
import { fakeVaultPerTest } from './testing/testkit.js';

const vault = fakeVaultPerTest((f) => {
  for (const p of ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'urgent']) f.put(`secret/${p}`, { p });
});
const setup = vault.setup;

/** The most requests that arrived within any `windowMs`. */
function busiestWindow(times: number[], windowMs: number): number {
  const sorted = [...times].sort((x, y) => x - y);
  let most = 0;
  for (let i = 0; i < sorted.length; i++) {
    const inWindow = sorted.filter((t) => t >= sorted[i]! && t < sorted[i]! + windowMs).length;
    most = Math.max(most, inWindow);
  }
  return most;
}

describe('rate limits', () => {
  it('keeps all Vault requests, logins included, within requestsPerSecond', async () => {
    const h = setup({ config: { requestsPerSecond: 4, readCacheTtlMs: 0 } });
    const id = h.id();
    const paths = ['a', 'b', 'c', 'd'];
    const t0 = Date.now();
    await Promise.all(paths.map((path) => h.reader.readKv({ identity: id, mount: 'secret', path })));
    const times = vault.fake.requests.map((r) => r.at);
    expect(times).toHaveLength(5);
    // A login and four reads at 4/s need a second window: the fifth cannot reach the server (same
    // process, same clock) before a second has passed since the first was allowed to start. Load
    // only delays arrivals, so this bound cannot flake; the exact window bound is checked on the
    // limiter itself below.
    expect(Math.max(...times) - t0).toBeGreaterThanOrEqual(990);
  }, 10_000);

  it('starts at most requestsPerSecond tasks in any second (start times taken in the task)', async () => {
    const limiter = new VaultLimiter({ requestsPerSecond: 4, maxInFlight: 100, loginsPerSecond: 100 });
    const starts: number[] = [];
    await Promise.all(
      Array.from({ length: 9 }, () =>
        limiter.request(() => {
          starts.push(Date.now());
          return Promise.resolve();
        }),
      ),
    );
    expect(busiestWindow(starts, 995)).toBeLessThanOrEqual(4);
    expect(Math.max(...starts) - Math.min(...starts)).toBeGreaterThanOrEqual(1_990);
  }, 10_000);

  it("keeps one tenant within its own rate, so another tenant's request does not wait behind it", async () => {
    const limiter = new VaultLimiter({
      requestsPerSecond: 100,
      requestsPerSecondPerTenant: 2,
      maxInFlight: 100,
      loginsPerSecond: 100,
    });
    const t0 = Date.now();
    const started = (tenant: string) => limiter.request(() => Promise.resolve(Date.now() - t0), { tenant });
    const noisy = Array.from({ length: 6 }, () => started('noisy'));
    const quiet = await started('quiet');
    const noisyStarts = await Promise.all(noisy);
    // noisy's third request waits for the next window of its own rate; quiet's goes at once.
    expect(noisyStarts[2]).toBeGreaterThanOrEqual(990);
    expect(quiet).toBeLessThan(noisyStarts[2]!);
    expect(Math.max(...noisyStarts)).toBeGreaterThanOrEqual(1_990);
    expect(limiter.tenants).toBe(0); // idle tenants are forgotten
  }, 10_000);

  it("passes a tenant's requests through its own rate on the HTTP path too", async () => {
    const h = setup({ config: { requestsPerSecond: 100, requestsPerSecondPerTenant: 2, readCacheTtlMs: 0 } });
    const t0 = Date.now();
    await Promise.all(
      ['a', 'b', 'c'].map((path) => h.reader.readKv({ identity: h.id(), mount: 'secret', path, tenant: 'noisy' })),
    );
    const times = vault.fake.requests.map((r) => r.at);
    expect(times).toHaveLength(4); // a login and three reads: two windows of 2
    expect(Math.max(...times) - t0).toBeGreaterThanOrEqual(990);
  }, 10_000);

  it('keeps logins within loginsPerSecond', async () => {
    const h = setup({ config: { loginsPerSecond: 1 } });
    const t0 = Date.now();
    await Promise.all(
      ['r1', 'r2'].map((role) => h.reader.readKv({ identity: h.id({ role }), mount: 'secret', path: 'a' })),
    );
    const logins = vault.fake.requests.filter((r) => r.method === 'POST').map((r) => r.at);
    expect(logins).toHaveLength(2);
    // The second login cannot arrive before a second has passed since the first could start.
    expect(Math.max(...logins) - t0).toBeGreaterThanOrEqual(990);
    expect(vault.fake.reads).toHaveLength(2);
  }, 10_000);

  it('starts a higher-priority read before waiting lower-priority ones', async () => {
    vault.fake.delayMs = 20;
    const h = setup({ config: { maxInFlight: 1, readCacheTtlMs: 0 } });
    const id = h.id();
    await h.reader.readKv({ identity: id, mount: 'secret', path: 'a' });
    vault.fake.reads = [];
    const low = ['b', 'c', 'd', 'e'].map((path) => h.reader.readKv({ identity: id, mount: 'secret', path }));
    const high = h.reader.readKv({ identity: id, mount: 'secret', path: 'urgent', priority: 10 });
    await Promise.all([...low, high]);
    expect(vault.fake.reads.map((r) => r.path)).toEqual(['b', 'urgent', 'c', 'd', 'e']);
  });

  it('never has more than maxInFlight requests at Vault at once', async () => {
    vault.fake.delayMs = 30;
    let inFlight = 0;
    let most = 0;
    vault.fake.onRead = () => {
      inFlight += 1;
      most = Math.max(most, inFlight);
      setTimeout(() => (inFlight -= 1), 30);
      return undefined;
    };
    const h = setup({ config: { maxInFlight: 2 } });
    const id = h.id();
    await Promise.all(
      ['a', 'b', 'c', 'd', 'e', 'f'].map((path) => h.reader.readKv({ identity: id, mount: 'secret', path })),
    );
    expect(vault.fake.reads).toHaveLength(6);
    expect(most).toBe(2);
  });
});
