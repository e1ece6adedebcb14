import { describe, expect, it } from 'vitest';
import { TokenBuckets } from './token-buckets.js';

const clock = () => {
  const c = { t: 1_000_000, now: () => c.t };
  return c;
};
const perMinute = (n: number) => ({ burst: n, refill: { tokens: n, everyMs: 60_000 } });

describe('TokenBuckets', () => {
  it('allows a burst, then refills one per 60s/perMinute', () => {
    const c = clock();
    const l = new TokenBuckets({ ...perMinute(3), clock: c });
    expect([l.take('a'), l.take('a'), l.take('a')]).toEqual([0, 0, 0]);
    expect(l.take('a')).toBe(20_000);
    expect(l.take('b')).toBe(0);
    c.t += 19_999;
    expect(l.take('a')).toBe(1);
    c.t += 1;
    expect(l.take('a')).toBe(0);
    expect(l.take('a')).toBe(20_000);
  });

  it('refills one token per interval up to the burst, exactly at the millisecond it is due', () => {
    const c = clock();
    const l = new TokenBuckets({ burst: 2, refill: { tokens: 1, everyMs: 300_000 }, clock: c });
    expect([l.take('a'), l.take('a'), l.take('a')]).toEqual([0, 0, 300_000]);
    c.t += 299_999;
    expect(l.take('a')).toBe(1);
    c.t += 1;
    expect(l.take('a')).toBe(0);
    c.t += 10 * 300_000; // saved up, but never beyond the burst
    expect([l.take('a'), l.take('a'), l.take('a')]).toEqual([0, 0, 300_000]);
  });

  it('forgets the least recently seen key beyond maxKeys', () => {
    const c = clock();
    const l = new TokenBuckets({ ...perMinute(1), clock: c, maxKeys: 2 });
    l.take('a');
    l.take('b');
    expect(l.take('a')).toBeGreaterThan(0); // touches a: b is now the oldest
    l.take('c');
    expect(l.take('b')).toBe(0);
    expect(l.take('a')).toBe(0);
  });

  it('refuses a budget that could never grant a token', () => {
    expect(() => new TokenBuckets({ burst: 0, refill: { tokens: 1, everyMs: 1 }, clock: clock() })).toThrow(RangeError);
    expect(() => new TokenBuckets({ burst: 1, refill: { tokens: 0, everyMs: 1 }, clock: clock() })).toThrow(RangeError);
  });
});
