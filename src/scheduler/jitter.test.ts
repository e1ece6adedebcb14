import { describe, expect, it } from 'vitest';
import { jitteredInterval, REFRESH_JITTER_FRACTION } from './jitter.js';

describe('jitteredInterval', () => {
  it('stays within 90–100 % of the interval over many draws, and spreads across that range', () => {
    const interval = 900_000;
    const draws = Array.from({ length: 20_000 }, () => jitteredInterval(interval));
    const min = Math.min(...draws);
    const max = Math.max(...draws);
    expect(min).toBeGreaterThanOrEqual(interval * 0.9);
    expect(max).toBeLessThanOrEqual(interval);
    // Not a constant: draws cover most of the 10 % band.
    expect(min).toBeLessThan(interval * 0.91);
    expect(max).toBeGreaterThan(interval * 0.99);
    const mean = draws.reduce((a, b) => a + b, 0) / draws.length;
    expect(mean).toBeGreaterThan(interval * 0.94);
    expect(mean).toBeLessThan(interval * 0.96);
  });

  it('maps rand 0 to the full interval and rand→1 to 90 % of it', () => {
    expect(REFRESH_JITTER_FRACTION).toBe(0.1);
    expect(jitteredInterval(60_000, () => 0)).toBe(60_000);
    expect(jitteredInterval(60_000, () => 0.5)).toBe(57_000);
    expect(jitteredInterval(60_000, () => 1)).toBe(54_000);
  });

  it('clamps a rand outside [0, 1)', () => {
    expect(jitteredInterval(1_000, () => 7)).toBe(900);
    expect(jitteredInterval(1_000, () => -3)).toBe(1_000);
  });

  it('rejects negative and non-finite intervals', () => {
    expect(() => jitteredInterval(-1)).toThrow(RangeError);
    expect(() => jitteredInterval(Number.NaN)).toThrow(RangeError);
    expect(() => jitteredInterval(Number.POSITIVE_INFINITY)).toThrow(RangeError);
    expect(jitteredInterval(0)).toBe(0);
  });
});
