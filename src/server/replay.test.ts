import { describe, expect, it } from 'vitest';
import { ReplayGuard } from './replay.js';

const clock = () => {
  const c = { t: 1_000_000, now: () => c.t };
  return c;
};

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
