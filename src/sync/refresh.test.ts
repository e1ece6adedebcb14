import { describe, expect, it } from 'vitest';
import { MIN_GAP_FRACTION, phaseMs, readGroupKey, readMaxAgeMs, refreshDelayMs } from './refresh.js';
import type { VaultIdentity } from './types.js';

const id = (ns: string, name = 'app'): VaultIdentity => ({
  address: 'http://vault:8200',
  authMount: 'kubernetes',
  role: 'r',
  serviceAccount: { namespace: ns, name },
  audiences: ['vault'],
});

describe('phase-aligned refresh', () => {
  const I = 60_000;

  it('puts every reader of one group on the same instants', () => {
    const g = readGroupKey(id('a'), 'secret', 'p', undefined);
    const slots = new Set<number>();
    for (const now of [0, 1_234, 17_000, 59_999, 123_456]) slots.add((now + refreshDelayMs(now, I, g)) % I);
    expect(slots.size).toBe(1);
    expect([...slots][0]).toBe(phaseMs(g, I));
  });

  it('keeps the next refresh between 0.1 and 1.1 intervals away, and exactly one interval on schedule', () => {
    const g = readGroupKey(id('a'), 'secret', 'p', undefined);
    for (let now = 0; now < 3 * I; now += 997) {
      const d = refreshDelayMs(now, I, g);
      expect(d).toBeGreaterThanOrEqual(I * MIN_GAP_FRACTION);
      expect(d).toBeLessThanOrEqual(I * (1 + MIN_GAP_FRACTION));
    }
    const slot = phaseMs(g, I) + 5 * I;
    expect(refreshDelayMs(slot, I, g)).toBe(I);
  });

  it('separates identities and paths, and spreads groups over the interval', () => {
    expect(readGroupKey(id('a'), 'secret', 'p', undefined)).not.toBe(readGroupKey(id('b'), 'secret', 'p', undefined));
    expect(readGroupKey(id('a'), 'secret', 'p', undefined)).not.toBe(readGroupKey(id('a'), 'secret', 'p', 3));
    const buckets = new Array<number>(10).fill(0);
    for (let i = 0; i < 5_000; i++)
      buckets[Math.floor(phaseMs(readGroupKey(id('a'), 'secret', `p${i}`, undefined), I) / (I / 10))]!++;
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
