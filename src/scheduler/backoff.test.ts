import { describe, expect, it } from 'vitest';
import { ExponentialBackoff } from './backoff.js';

describe('ExponentialBackoff', () => {
  it('grows 1, 2, 4, … seconds at the top of the jitter band and caps at maxMs', () => {
    const b = new ExponentialBackoff({ baseMs: 1_000, factor: 2, maxMs: 60_000, rand: () => 1 });
    const delays = Array.from({ length: 10 }, () => b.next('k'));
    expect(delays).toEqual([1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 60_000, 60_000, 60_000, 60_000]);
    expect(b.retries('k')).toBe(10);
  });

  it('never goes below baseMs (the bottom of the jitter band)', () => {
    const b = new ExponentialBackoff({ baseMs: 1_000, maxMs: 60_000, rand: () => 0 });
    expect(Array.from({ length: 8 }, () => b.next('k'))).toEqual(Array(8).fill(1_000));
  });

  it('draws each delay from [baseMs, min(maxMs, baseMs·2^n)] and uses the whole band', () => {
    const b = new ExponentialBackoff({ baseMs: 1_000, factor: 2, maxMs: 300_000 });
    for (let n = 0; n < 12; n++) {
      const ceiling = Math.min(300_000, 1_000 * 2 ** n);
      const draws = Array.from({ length: 2_000 }, () => b.delayFor(n));
      expect(Math.min(...draws)).toBeGreaterThanOrEqual(1_000);
      expect(Math.max(...draws)).toBeLessThanOrEqual(ceiling);
      if (n >= 2) {
        // Full jitter: retries of keys that failed together are spread over the band.
        expect(Math.min(...draws)).toBeLessThan(1_000 + 0.05 * (ceiling - 1_000));
        expect(Math.max(...draws)).toBeGreaterThan(ceiling - 0.05 * (ceiling - 1_000));
      }
    }
  });

  it('survives very many failures without overflowing past the cap', () => {
    const b = new ExponentialBackoff({ rand: () => 1 });
    expect(b.delayFor(5_000)).toBe(300_000);
  });

  it('resets a key only on forget, and only that key', () => {
    const b = new ExponentialBackoff({ baseMs: 100, rand: () => 1 });
    b.next('a');
    b.next('a');
    b.next('b');
    expect(b.next('a')).toBe(400);
    b.forget('b');
    expect(b.retries('a')).toBe(3);
    expect(b.next('a')).toBe(800);
    b.forget('a');
    expect(b.retries('a')).toBe(0);
    expect(b.next('a')).toBe(100);
    b.forget('a');
    expect(b.size).toBe(0);
  });

  it('rejects options that cannot make a backoff', () => {
    expect(() => new ExponentialBackoff({ baseMs: 0 })).toThrow(RangeError);
    expect(() => new ExponentialBackoff({ factor: 0.5 })).toThrow(RangeError);
    expect(() => new ExponentialBackoff({ baseMs: 10_000, maxMs: 1_000 })).toThrow(RangeError);
  });
});
