import { describe, expect, it } from 'vitest';
import { SyncError } from '../errors.js';
import { classifyError } from './classify.js';

const vaultDown = () => new SyncError('VaultUnavailable', 'Could not reach Vault at http://vault:8200 (ECONNREFUSED)');
const kubeDown = (status?: number) =>
  new SyncError('KubernetesApiError', 'update Secret ns/x failed', status === undefined ? {} : { status });

describe('classifyError', () => {
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
  ])('%s → dependency %s', (_name, err, want) => {
    expect(classifyError(err).dependency).toBe(want);
  });

  it('names the Vault address that is down, so outages are tracked per address', () => {
    const a = new SyncError('VaultUnavailable', 'x', { dependency: 'vault https://a:8200' });
    const b = new SyncError('VaultUnavailable', 'x', { dependency: 'vault https://b:8200' });
    expect(classifyError(a).dependency).toBe('vault https://a:8200');
    expect(classifyError(b).dependency).not.toBe(classifyError(a).dependency);
  });

  it('calls a SyncError expected and keeps its terminal flag; anything else is unexpected and retried', () => {
    expect(classifyError(new SyncError('InvalidSpec', 'bad'))).toMatchObject({ terminal: true, expected: true });
    const foreign = classifyError(new TypeError('value hunter2 is not iterable'));
    expect(foreign).toMatchObject({ terminal: false, expected: false });
    expect(foreign.summary).toMatch(/^TypeError at /);
    expect(foreign.summary).not.toContain('hunter2'); // a foreign message may quote data: never logged
  });
});
