import { describe, expect, it } from 'vitest';
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
    await Promise.all(paths.map((path) => h.reader.readKv({ identity: id, mount: 'secret', path })));
    const times = vault.fake.requests.map((r) => r.at);
    expect(times).toHaveLength(5);
    // Arrival times jitter a little against the client's start times, hence 900 ms windows.
    expect(busiestWindow(times, 900)).toBeLessThanOrEqual(4);
    expect(Math.max(...times) - Math.min(...times)).toBeGreaterThanOrEqual(900);
  }, 10_000);

  it("keeps one tenant within its own rate, so another tenant's read does not wait behind it", async () => {
    const h = setup({ config: { requestsPerSecond: 100, requestsPerSecondPerTenant: 2, readCacheTtlMs: 0 } });
    const started = Date.now();
    const noisy = Promise.all(
      ['a', 'b', 'c', 'd', 'e', 'f'].map((path) =>
        h.reader.readKv({ identity: h.id(), mount: 'secret', path, tenant: 'noisy' }),
      ),
    ).then(() => Date.now() - started);
    await new Promise((r) => setTimeout(r, 50));
    const quiet = await h.reader
      .readKv({ identity: h.id({ role: 'other' }), mount: 'secret', path: 'urgent', tenant: 'quiet' })
      .then(() => Date.now() - started);
    // noisy: a login and 6 reads at 2/s need at least two more windows; quiet's login and read go at once.
    expect(quiet).toBeLessThan(1_000);
    expect(await noisy).toBeGreaterThanOrEqual(1_900);
  }, 10_000);

  it('keeps logins within loginsPerSecond', async () => {
    const h = setup({ config: { loginsPerSecond: 1 } });
    await Promise.all(
      ['r1', 'r2'].map((role) => h.reader.readKv({ identity: h.id({ role }), mount: 'secret', path: 'a' })),
    );
    const logins = vault.fake.requests.filter((r) => r.method === 'POST').map((r) => r.at);
    expect(logins).toHaveLength(2);
    expect(busiestWindow(logins, 900)).toBe(1);
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
