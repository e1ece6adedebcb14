import { describe, expect, it } from 'vitest';
import { rawListPage, toSecretSync } from './secretsyncs.js';

const base = {
  apiVersion: 'vaultsync.io/v1alpha1',
  kind: 'SecretSync',
  metadata: { namespace: 'ns', name: 'a', uid: 'u', resourceVersion: '1', managedFields: [{ manager: 'x' }] },
};

describe('toSecretSync', () => {
  it("keeps the metadata the controller reads and drops kubectl's last-applied copy", () => {
    const s = toSecretSync({
      ...base,
      metadata: {
        ...base.metadata,
        generation: 3,
        selfLink: '/x',
        labels: { a: 'b' },
        annotations: { 'kubectl.kubernetes.io/last-applied-configuration': '{"spec":{}}', 'vaultsync.io/x': 'y' },
      },
    });
    expect(s?.metadata).toEqual({
      namespace: 'ns',
      name: 'a',
      uid: 'u',
      resourceVersion: '1',
      generation: 3,
      labels: { a: 'b' },
      annotations: { 'vaultsync.io/x': 'y' },
    });
  });

  it('applies schema defaults missing from an object stored by an older CRD', () => {
    const s = toSecretSync({
      ...base,
      spec: { vault: { kv: { path: 'app' } }, auth: { kubernetes: { role: 'r' } } },
    });
    expect(s?.spec.vault.kv?.mount).toBe('secret');
    expect(s?.spec.target).toEqual({ type: 'Opaque', immutable: false, deletionPolicy: 'Delete' });
    expect(s?.metadata).not.toHaveProperty('managedFields');
    expect(s?.metadata).toEqual({ namespace: 'ns', name: 'a', uid: 'u', resourceVersion: '1' });
  });

  it('keeps an invalid object as it is, for reconcile to report', () => {
    const s = toSecretSync({ ...base, spec: { vault: {} } });
    expect(s?.metadata.name).toBe('a');
    expect(s?.spec).toEqual({ vault: {} });
  });

  it('drops only objects without name or namespace', () => {
    expect(toSecretSync({ metadata: { name: 'a' } })).toBeUndefined();
    expect(toSecretSync('nonsense')).toBeUndefined();
  });
});

describe('rawListPage', () => {
  it('reads items, resourceVersion and continue; refuses a body that is not a list', () => {
    expect(rawListPage({ metadata: { resourceVersion: '5', continue: 'c' }, items: [1] })).toEqual({
      items: [1],
      resourceVersion: '5',
      continueToken: 'c',
    });
    expect(() => rawListPage({ items: [] })).toThrow(/resourceVersion/);
  });
});
