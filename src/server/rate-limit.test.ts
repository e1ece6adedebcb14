import { describe, expect, it } from 'vitest';
import { RateLimiter } from './rate-limit.js';
import { ReplayGuard } from './replay.js';

const clock = () => {
  const c = { t: 1_000_000, now: () => c.t };
  return c;
};

describe('RateLimiter', () => {
  it('allows a burst of perMinute, then refills one per 60s/perMinute', () => {
    const c = clock();
    const l = new RateLimiter({ perMinute: 3, clock: c });
    expect([l.take('a'), l.take('a'), l.take('a')]).toEqual([0, 0, 0]);
    expect(l.take('a')).toBe(20_000);
    expect(l.take('b')).toBe(0);
    c.t += 19_999;
    expect(l.take('a')).toBe(1);
    c.t += 1;
    expect(l.take('a')).toBe(0);
    expect(l.take('a')).toBe(20_000);
  });

  it('forgets the least recently seen client beyond maxClients', () => {
    const c = clock();
    const l = new RateLimiter({ perMinute: 1, clock: c, maxClients: 2 });
    l.take('a');
    l.take('b');
    expect(l.take('a')).toBeGreaterThan(0); // touches a: b is now the oldest
    l.take('c');
    expect(l.take('b')).toBe(0);
    expect(l.take('a')).toBe(0);
  });
});

describe('ReplayGuard', () => {
  it('refuses an id within the window and forgets it after', () => {
    const c = clock();
    const g = new ReplayGuard({ ttlMs: 600_000, clock: c });
    expect(g.seenBefore('x')).toBe(false);
    expect(g.seenBefore('x')).toBe(true);
    c.t += 599_999;
    expect(g.seenBefore('x')).toBe(true);
    c.t += 1;
    expect(g.seenBefore('x')).toBe(false);
  });

  it('keeps at most max ids', () => {
    const g = new ReplayGuard({ ttlMs: 600_000, clock: clock(), max: 2 });
    g.seenBefore('a');
    g.seenBefore('b');
    g.seenBefore('c');
    expect(g.seenBefore('c')).toBe(true);
    expect(g.seenBefore('a')).toBe(false);
  });
});
