import { describe, expect, it } from 'vitest';
import { ClientRateLimit } from './rate-limit.js';

const clock = () => {
  const c = { t: 1_000_000, now: () => c.t };
  return c;
};

describe('ClientRateLimit', () => {
  it('gives each client its own budget: one flooding client does not limit another', () => {
    const c = clock();
    const limit = new ClientRateLimit({ perClientPerMinute: 3, globalPerMinute: 30, clock: c });
    for (let i = 0; i < 3; i++) expect(limit.take('10.0.0.1')).toBe(0);
    for (let i = 0; i < 1000; i++) expect(limit.take('10.0.0.1')).toBe(20_000);
    expect(limit.take('10.0.0.2')).toBe(0);
    c.t += 20_000;
    expect(limit.take('10.0.0.1')).toBe(0);
  });

  it('refuses a client over its own limit without spending the global budget', () => {
    const c = clock();
    const limit = new ClientRateLimit({ perClientPerMinute: 2, globalPerMinute: 4, clock: c });
    limit.take('flood');
    limit.take('flood');
    for (let i = 0; i < 100; i++) expect(limit.take('flood')).toBeGreaterThan(0);
    // The flood took 2 of the global 4: two other clients still get through.
    expect(limit.take('a')).toBe(0);
    expect(limit.take('b')).toBe(0);
  });

  it('caps all clients together', () => {
    const c = clock();
    const limit = new ClientRateLimit({ perClientPerMinute: 1, globalPerMinute: 5, clock: c });
    for (let i = 0; i < 5; i++) expect(limit.take(`10.0.0.${i}`)).toBe(0);
    expect(limit.take('10.0.0.99')).toBe(12_000);
    c.t += 12_000;
    expect(limit.take('10.0.0.100')).toBe(0);
    // A request the global cap refused still counted against its client: retrying harder does not help.
    expect(limit.take('10.0.0.99')).toBe(48_000);
  });

  it('refuses a global budget that one client could take alone', () => {
    expect(() => new ClientRateLimit({ perClientPerMinute: 10, globalPerMinute: 19, clock: clock() })).toThrow(
      /at least twice the per-client rate/,
    );
  });
});
