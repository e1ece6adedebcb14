import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { appRoleSource, tokenFileSource } from './auth-sources.js';
import { FakeTransit } from './testing/fake-transit.js';
import { TokenManager } from './token-manager.js';
import { silentLogger, type Timers } from './types.js';
import { VaultHttp } from './vault-http.js';

/** A clock the test moves; timers fire when it passes their time. */
class FakeTimers implements Timers {
  t = 1_000_000;
  private timers: { at: number; fn: () => void; id: number }[] = [];
  private next = 0;
  now = () => this.t;
  setTimeout = (fn: () => void, ms: number) => {
    const id = ++this.next;
    this.timers.push({ at: this.t + ms, fn, id });
    return id;
  };
  clearTimeout = (h: unknown) => {
    this.timers = this.timers.filter((x) => x.id !== h);
  };
  get pending(): number[] {
    return this.timers.map((x) => x.at - this.t);
  }
  /** Moves the clock and runs due timers, letting their promises settle. */
  async advance(ms: number): Promise<void> {
    this.t += ms;
    for (const due of this.timers.filter((x) => x.at <= this.t)) {
      this.timers = this.timers.filter((x) => x !== due);
      due.fn();
    }
    for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
  }
}

let vault: FakeTransit;
let http: VaultHttp;
let timers: FakeTimers;
let files: Map<string, string>;
const signal = () => AbortSignal.timeout(2_000);
const readFile = (f: string) =>
  files.has(f) ? Promise.resolve(files.get(f) ?? '') : Promise.reject(new Error('no file'));

beforeEach(async () => {
  vault = await FakeTransit.start();
  http = new VaultHttp({ address: vault.url });
  timers = new FakeTimers();
  files = new Map();
});

afterEach(async () => {
  http.close();
  await vault.close();
});

function manager(source = tokenFileSource({ file: '/t', readFile, vault: http })) {
  const expiries: number[] = [];
  const m = new TokenManager({
    source,
    vault: http,
    timers,
    log: silentLogger,
    onLease: (at) => expiries.push(at),
    backgroundTimeoutMs: 2_000,
  });
  return { m, expiries };
}

describe('TokenManager', () => {
  it('reads the token file once for concurrent callers and renews at two thirds of the TTL', async () => {
    files.set('/t', 'tok-a');
    vault.tokens.set('tok-a', { ttl: 90, renewable: true });
    const { m, expiries } = manager();
    const got = await Promise.all([m.token(signal()), m.token(signal()), m.token(signal())]);
    expect(got).toEqual(['tok-a', 'tok-a', 'tok-a']);
    expect(vault.count('auth/token/lookup-self')).toBe(1);
    expect(timers.pending).toEqual([60_000]);
    await timers.advance(59_000);
    expect(vault.count('auth/token/renew-self')).toBe(0);
    await timers.advance(1_000);
    expect(vault.count('auth/token/renew-self')).toBe(1);
    expect(expiries).toEqual([1_000_000 + 90_000, 1_060_000 + 90_000]);
    expect(await m.token(signal())).toBe('tok-a');
    m.close();
  });

  it('takes a new token from the file when renewal no longer extends the old one (max TTL)', async () => {
    files.set('/t', 'tok-a');
    vault.tokens.set('tok-a', { ttl: 90, renewable: true, renewTo: 20 });
    const { m } = manager();
    await m.token(signal());
    files.set('/t', 'tok-b');
    vault.tokens.set('tok-b', { ttl: 90, renewable: true });
    await timers.advance(60_000);
    expect(vault.count('auth/token/renew-self')).toBe(1);
    expect(await m.token(signal())).toBe('tok-b');
    m.close();
  });

  it('keeps the old token when a refresh fails, and retries before it expires', async () => {
    files.set('/t', 'tok-a');
    vault.tokens.set('tok-a', { ttl: 90, renewable: true });
    const { m } = manager();
    await m.token(signal());
    vault.failWith = 503;
    await timers.advance(60_000);
    expect(await m.token(signal())).toBe('tok-a');
    expect(timers.pending).toEqual([15_000]); // half of the 30 s left
    vault.failWith = undefined;
    await timers.advance(15_000);
    expect(vault.requests.filter((r) => r.path === 'auth/token/renew-self').length).toBe(2);
    m.close();
  });

  it('logs in again with AppRole after invalidate(), and only then', async () => {
    files.set('/role', 'role-1');
    files.set('/secret', 'secret-1');
    const { m } = manager(
      appRoleSource({ mount: 'approle', roleIdFile: '/role', secretIdFile: '/secret', readFile, vault: http }),
    );
    expect(await m.token(signal())).toBe('login-token');
    await m.token(signal());
    expect(vault.count('auth/approle/login')).toBe(1);
    m.invalidate('some-other-token');
    await m.token(signal());
    expect(vault.count('auth/approle/login')).toBe(1);
    m.invalidate('login-token');
    await m.token(signal());
    expect(vault.count('auth/approle/login')).toBe(2);
    m.close();
  });

  it('fails a refused AppRole login as VaultAuthFailed without quoting the secret_id', async () => {
    files.set('/role', 'role-1');
    files.set('/secret', 'wrong-secret-id-0123456789abcdef');
    const { m } = manager(
      appRoleSource({ mount: 'approle', roleIdFile: '/role', secretIdFile: '/secret', readFile, vault: http }),
    );
    const err = (await m.token(signal()).catch((e: unknown) => e)) as Error & { reason: string };
    expect(err.reason).toBe('VaultAuthFailed');
    expect(err.message).not.toContain('wrong-secret-id');
  });

  it('obtains a new token once the held one has expired (no background refresh happened)', async () => {
    files.set('/t', 'tok-a');
    vault.tokens.set('tok-a', { ttl: 30, renewable: false });
    const { m } = manager();
    await m.token(signal());
    m.close(); // no timers: the token expires unrenewed
    files.set('/t', 'tok-b');
    vault.tokens.set('tok-b', { ttl: 30, renewable: false });
    timers.t += 31_000;
    expect(await m.token(signal())).toBe('tok-b');
  });
});
