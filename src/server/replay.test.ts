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

describe('ReplayGuard.seenAny', () => {
  it('is true when any id was seen, and records all of them either way', () => {
    const c = clock();
    const g = new ReplayGuard({ ttlMs: 600_000, clock: c });
    expect(g.seenAny(['sig:1', 'id:a'])).toBe(false);
    // A new signature under a delivery id seen before: refused, and the signature remembered too.
    expect(g.seenAny(['sig:2', 'id:a'])).toBe(true);
    expect(g.seenAny(['sig:2', 'id:b'])).toBe(true);
    expect(g.seenAny(['sig:3', 'id:c'])).toBe(false);
  });

  it('stays within max when recording several ids at once', () => {
    const g = new ReplayGuard({ ttlMs: 600_000, clock: clock(), max: 3 });
    g.seenAny(['a', 'b']);
    g.seenAny(['c', 'd']);
    // The oldest are forgotten to make room: at most 3 are kept.
    expect(g.seenAny(['c'])).toBe(true);
    expect(g.seenAny(['d'])).toBe(true);
    expect(g.seenAny(['a'])).toBe(false);
  });
});
