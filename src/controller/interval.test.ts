import { describe, expect, it } from 'vitest';
import type { SecretSync } from '../api/index.js';
import { initialDelayMs } from './interval.js';

const refresh = { defaultMs: 900_000, minMs: 30_000 };

function sync(over: { ready?: string; observed?: number; generation?: number; interval?: string }): SecretSync {
  return {
    apiVersion: 'vaultsync.io/v1alpha1',
    kind: 'SecretSync',
    metadata: { name: 'a', namespace: 'ns', uid: 'u', generation: over.generation ?? 2 },
    spec: {
      vault: { kv: { mount: 'secret', path: 'p' } },
      auth: { kubernetes: { role: 'r' } },
      target: { type: 'Opaque', immutable: false, deletionPolicy: 'Delete' },
      refresh: over.interval ? { interval: over.interval } : {},
    },
    status:
      over.ready === undefined
        ? undefined
        : {
            observedGeneration: over.observed ?? 2,
            conditions: [
              { type: 'Ready', status: over.ready as 'True', reason: 'Synced', message: '', lastTransitionTime: '' },
            ],
          },
  };
}

describe('initialDelayMs', () => {
  it('reconciles never-synced, failing and changed SecretSyncs at once', () => {
    expect(initialDelayMs(sync({}), refresh, () => 0.5)).toBe(0);
    expect(initialDelayMs(sync({ ready: 'False' }), refresh, () => 0.5)).toBe(0);
    expect(initialDelayMs(sync({ ready: 'True', observed: 1, generation: 2 }), refresh, () => 0.5)).toBe(0);
  });

  it('spreads Ready SecretSyncs over their interval', () => {
    expect(initialDelayMs(sync({ ready: 'True', interval: '1m' }), refresh, () => 0.5)).toBe(30_000);
    expect(initialDelayMs(sync({ ready: 'True' }), refresh, () => 0.999)).toBe(899_100);
    expect(initialDelayMs(sync({ ready: 'True', interval: '1s' }), refresh, () => 0.5)).toBe(15_000); // min 30s
  });

  it('spreads uniformly, not in a lump', () => {
    const buckets = new Array<number>(10).fill(0);
    for (let i = 0; i < 10_000; i++)
      buckets[Math.floor(initialDelayMs(sync({ ready: 'True' }), refresh, Math.random) / 90_000)]!++;
    for (const b of buckets) expect(b).toBeGreaterThan(800);
  });
});
