import { describe, expect, it } from 'vitest';
import { OutageWaits } from './outage.js';

// The scheduler knows dependencies only by the name its classifier gives; undefined is "not an outage".
const vaultDown = () => 'vault';
const kubeDown = () => 'kubernetes';
const ownProblem = () => undefined;

describe('OutageWaits', () => {
  it('releases every key parked on the same dependency when one of them succeeds', () => {
    const w = new OutageWaits();
    for (const k of ['a', 'b', 'c']) w.failed(k, vaultDown());
    w.failed('k', kubeDown());
    w.failed('f', ownProblem());
    expect(w.succeeded('f')).toBeUndefined(); // not parked: proves nothing about Vault
    expect(w.succeeded('a')).toEqual({ dependency: 'vault', keys: ['b', 'c'] });
    expect(w.succeeded('k')).toEqual({ dependency: 'kubernetes', keys: [] });
  });

  it('a key that was never parked proves nothing: its success releases no one', () => {
    const w = new OutageWaits();
    w.failed('a', vaultDown());
    expect(w.succeeded('healthy')).toBeUndefined();
    expect(w.succeeded('a')).toEqual({ dependency: 'vault', keys: [] });
  });

  it('a released key that fails again waits one backoff step before it is parked again', () => {
    const w = new OutageWaits();
    w.failed('dead', vaultDown());
    w.failed('a', vaultDown());
    expect(w.succeeded('a')?.keys).toEqual(['dead']);
    w.failed('dead', vaultDown()); // the released retry: not parked
    w.failed('a', vaultDown());
    expect(w.succeeded('a')?.keys).toEqual([]);
    w.failed('dead', vaultDown()); // its own backoff retry: parked again
    w.failed('a', vaultDown());
    expect(w.succeeded('a')?.keys).toEqual(['dead']);
  });

  it('a forgotten key (its SecretSync deleted) is no longer parked and releases no one', () => {
    const w = new OutageWaits();
    w.failed('gone', vaultDown());
    w.failed('a', vaultDown());
    w.forget('gone');
    expect(w.succeeded('a')?.keys).toEqual([]);
    expect(w.size).toBe(0);
  });

  it('a parked key that fails for another reason, or succeeds, is no longer parked', () => {
    const w = new OutageWaits();
    w.failed('x', vaultDown());
    w.failed('x', ownProblem());
    w.failed('y', vaultDown());
    w.failed('a', vaultDown());
    expect(w.succeeded('y')?.keys.sort()).toEqual(['a']);
    expect(w.succeeded('a')).toBeUndefined();
    expect(w.size).toBe(0);
  });
});
