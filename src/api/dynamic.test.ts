import { describe, expect, it } from 'vitest';
import { validateSecretSync } from './validate.js';

const withSources = (sources: unknown[]) => ({
  apiVersion: 'vaultsync.io/v1alpha1',
  kind: 'SecretSync',
  metadata: { name: 'db', namespace: 'default', uid: 'uid-1', generation: 1 },
  spec: { vault: {}, auth: { kubernetes: { role: 'app', serviceAccountName: 'app' } }, sources },
});

describe('database and pki source items', () => {
  it('default their mounts', () => {
    const result = validateSecretSync(
      withSources([{ database: { role: 'orders' } }, { pki: { role: 'web', commonName: 'a.example.test' } }]),
    );
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.value.spec.sources?.[0]?.database).toEqual({ mount: 'database', role: 'orders' });
    expect(result.value.spec.sources?.[1]?.pki).toEqual({ mount: 'pki', role: 'web', commonName: 'a.example.test' });
  });

  it.each([
    ['a database item without a role', { database: {} }],
    ['a role with a slash', { database: { role: 'a/b' } }],
    ['renewBefore that is not a duration', { database: { role: 'a', renewBefore: 'soon' } }],
    ['a pki item without a common name', { pki: { role: 'web' } }],
    ['an IP SAN that is not an address', { pki: { role: 'web', commonName: 'a', ipSans: ['host.example'] } }],
    ['two kinds in one item', { database: { role: 'a' }, pki: { role: 'web', commonName: 'a' } }],
  ])('refuses %s', (_name, item) => {
    expect(validateSecretSync(withSources([item])).ok).toBe(false);
  });
});
