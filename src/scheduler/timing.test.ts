import { describe, expect, it } from 'vitest';
import {
  MIN_GAP_FRACTION,
  phaseMs,
  readMaxAgeMs,
  refreshDelayMs,
  startupDelayMs,
  startupRefreshNotBefore,
} from './timing.js';

/** Groups are opaque strings to the scheduler (the controller builds them with vault's readGroupKey). */
const group = (identity: string, path: string) => JSON.stringify([identity, 'secret', path, null]);

describe('phase-aligned refresh', () => {
  const I = 60_000;

  it('puts every reader of one group on the same instants', () => {
    const g = group('a', 'p');
    const slots = new Set<number>();
    for (const now of [0, 1_234, 17_000, 59_999, 123_456]) slots.add((now + refreshDelayMs(now, I, g)) % I);
    expect(slots.size).toBe(1);
    expect([...slots][0]).toBe(phaseMs(g, I));
  });

  it('keeps the next refresh between 0.1 and 1.1 intervals away, and exactly one interval on schedule', () => {
    const g = group('a', 'p');
    for (let now = 0; now < 3 * I; now += 997) {
      const d = refreshDelayMs(now, I, g);
      expect(d).toBeGreaterThanOrEqual(I * MIN_GAP_FRACTION);
      expect(d).toBeLessThanOrEqual(I * (1 + MIN_GAP_FRACTION));
    }
    const slot = phaseMs(g, I) + 5 * I;
    expect(refreshDelayMs(slot, I, g)).toBe(I);
  });

  it('counts from the read: readers of one shared read come due together, however late they finished', () => {
    const g = group('a', 'p');
    const readAt = phaseMs(g, I) + 7 * I - 20_000; // the next slot is 20 s after the read
    const slotOf = (finishedAt: number) => finishedAt + refreshDelayMs(finishedAt, I, g, readAt);
    // Finished 0.1 s, 9 s and 19 s after the read: counting from the end of each sync would put the
    // last two on the slot an interval later (less than 6 s away), splitting the group.
    expect(new Set([readAt + 100, readAt + 9_000, readAt + 19_000].map(slotOf))).toEqual(new Set([readAt + 20_000]));
    // A reader that finished after that slot is due at once (the data is older than the schedule allows).
    expect(refreshDelayMs(readAt + 25_000, I, g, readAt)).toBe(1);
    // Never 0: a refresh on the slot itself does not run again within the same tick.
    expect(refreshDelayMs(readAt + 20_000, I, g, readAt)).toBe(1);
  });

  it('puts the first refresh after a startup read an interval after the initial list, on the phase', () => {
    const g = group('a', 'p');
    const listedAt = phaseMs(g, I) + 4 * I - 30_000; // the group's slot comes 30 s into the initial sync
    const notBefore = startupRefreshNotBefore(listedAt, I);
    for (const readAfter of [0, 5_000, 29_000, 50_000, I - 1]) {
      const readAt = listedAt + readAfter;
      const due = readAt + refreshDelayMs(readAt, I, g, readAt, notBefore);
      // Without it, a group read in the first 24 s would come due 30 s in, during the sync.
      expect(due).toBe(listedAt + 30_000 + I);
      expect(due - readAt).toBeLessThanOrEqual(2 * I);
    }
    // Read late (the initial sync took longer than an interval): the usual gap after the read.
    const late = listedAt + I + 25_000;
    expect(late + refreshDelayMs(late, I, g, late, notBefore)).toBe(listedAt + 30_000 + 2 * I);
    expect(refreshDelayMs(listedAt, I, g, listedAt)).toBe(30_000); // the usual rule
  });

  it('spreads groups uniformly over the interval', () => {
    const buckets = new Array<number>(10).fill(0);
    for (let i = 0; i < 5_000; i++) buckets[Math.floor(phaseMs(group('a', `p${i}`), I) / (I / 10))]!++;
    for (const b of buckets) {
      expect(b).toBeGreaterThan(400);
      expect(b).toBeLessThan(600);
    }
  });

  it('accepts shared reads for a tenth of the interval, at most the cache TTL', () => {
    expect(readMaxAgeMs(60_000, 30_000)).toBe(6_000);
    expect(readMaxAgeMs(3_600_000, 30_000)).toBe(30_000);
  });
});

describe('startup spread', () => {
  it('spreads what was synced before over its interval, and does the rest now', () => {
    expect(startupDelayMs(true, 60_000, () => 0.5)).toBe(30_000);
    expect(startupDelayMs(true, 60_000, () => 0)).toBe(0);
    expect(startupDelayMs(false, 60_000, () => 0.5)).toBe(0);
  });
});
