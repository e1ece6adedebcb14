import { describe, expect, it } from 'vitest';
import { SyncError } from '../errors.js';
import { OutageWaits, unavailableDependency } from './outage.js';

const vaultDown = () => new SyncError('VaultUnavailable', 'Could not reach Vault at http://vault:8200 (ECONNREFUSED)');
const kubeDown = (status?: number) =>
  new SyncError('KubernetesApiError', 'update Secret ns/x failed', status === undefined ? {} : { status });

describe('unavailableDependency', () => {
  it.each([
    ['VaultUnavailable', vaultDown(), 'vault'],
    ['API server did not answer', kubeDown(), 'kubernetes'],
    ['API server 429', kubeDown(429), 'kubernetes'],
    ['API server 500', kubeDown(500), 'kubernetes'],
    ['API server 503', kubeDown(503), 'kubernetes'],
    ['API server 403 (RBAC not loaded yet after a restart)', kubeDown(403), 'kubernetes'],
    ['a conflict (409)', kubeDown(409), undefined],
    ['a refusal (422)', kubeDown(422), undefined],
    ['VaultForbidden', new SyncError('VaultForbidden', 'denied'), undefined],
    ['a terminal VaultUnavailable', new SyncError('VaultUnavailable', 'x', { terminal: true }), undefined],
    ['a plain Error', new Error('boom'), undefined],
  ])('%s → %s', (_name, err, want) => {
    expect(unavailableDependency(err)).toBe(want);
  });
});

describe('OutageWaits', () => {
  it('releases every key parked on the same dependency when one of them succeeds', () => {
    const w = new OutageWaits();
    for (const k of ['a', 'b', 'c']) w.failed(k, vaultDown());
    w.failed('k', kubeDown());
    w.failed('f', new SyncError('VaultForbidden', 'denied'));
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
    w.failed('x', new SyncError('PropertyNotFound', 'no such property'));
    w.failed('y', vaultDown());
    w.failed('a', vaultDown());
    expect(w.succeeded('y')?.keys.sort()).toEqual(['a']);
    expect(w.succeeded('a')).toBeUndefined();
    expect(w.size).toBe(0);
  });
});
