import { describe, expect, it } from 'vitest';
import type { SecretSync } from '../api/index.js';
import { SyncError } from '../errors.js';
import { identityFor, type IdentityDefaults } from './identity.js';
import { secretSync } from './testing/fakes.js';

const CA = '-----BEGIN CERTIFICATE-----\noperator\n-----END CERTIFICATE-----\n';

const defaults = (over: Partial<IdentityDefaults> = {}): IdentityDefaults => ({
  vault: {
    address: 'https://vault.example:8200',
    caBundle: CA,
    vaultNamespace: 'ops',
    authMount: 'kubernetes',
    allowedAddresses: ['https://vault-b.example:8200', 'http://127.0.0.1:8300'],
  },
  tokenAudiences: ['vault'],
  allowControllerIdentity: false,
  ...over,
});

function thrown(f: () => unknown): SyncError {
  try {
    f();
  } catch (err) {
    if (err instanceof SyncError) return err;
    throw err;
  }
  throw new Error('expected a SyncError');
}

const withAddress = (address: string) => secretSync((s) => (s.spec.vault.address = address));

describe('identityFor: addresses a SecretSync may choose', () => {
  it.each([
    'https://vault.example:8200',
    'https://vault.example:8200/',
    'https://VAULT.example:8200',
    'https://vault-b.example:8200',
    'http://127.0.0.1:8300',
  ])('accepts %s (the operator allowed it)', (address) => {
    expect(identityFor(withAddress(address), defaults()).address).toBe(address);
  });

  it.each([
    'https://vault.example:8201', // another port
    'http://vault.example:8200', // another scheme
    'https://vault.example', // the default port is another port
    'http://127.0.0.1:9', // closed
    'http://169.254.169.254', // cloud metadata
    'https://kubernetes.default.svc', // the API server
    'http://10.255.255.1:8200', // a black hole
  ])('refuses %s with one terminal reason and one message, whatever is there', (address) => {
    const err = thrown(() => identityFor(withAddress(address), defaults()));
    expect(err).toMatchObject({ reason: 'VaultAddressNotAllowed', terminal: true });
    // The same words for every address: nothing to tell open from closed from filtered.
    expect(err.message).toBe(
      'spec.vault.address is not an address this controller may use: remove it to use the default Vault, or ask the operator to add it to --vault-allowed-addresses',
    );
  });

  it('allows only --vault-address when the operator listed nothing', () => {
    const d = defaults({ vault: { address: 'https://vault.example:8200', authMount: 'kubernetes' } });
    expect(identityFor(withAddress('https://vault.example:8200'), d).address).toBe('https://vault.example:8200');
    expect(thrown(() => identityFor(withAddress('https://vault-b.example:8200'), d)).reason).toBe(
      'VaultAddressNotAllowed',
    );
  });

  it('is checked before the audiences, so nothing about the address leaks through another message', () => {
    const sync = secretSync((s) => {
      s.spec.vault.address = 'http://169.254.169.254';
      s.spec.auth.kubernetes.audiences = ['https://kubernetes.default.svc'];
    });
    expect(thrown(() => identityFor(sync, defaults())).reason).toBe('VaultAddressNotAllowed');
  });
});

describe("identityFor: the controller's own identity is all the operator's", () => {
  const noSa = (edit: (s: SecretSync) => void = () => undefined) =>
    secretSync((s) => {
      delete s.spec.auth.kubernetes.serviceAccountName;
      s.spec.auth.kubernetes.role = 'controller-role';
      edit(s);
    });
  const allowed = defaults({ allowControllerIdentity: true, controllerVaultRole: 'controller-role' });

  it('logs in with the operator address, CA, Vault namespace, mount and role', () => {
    expect(identityFor(noSa(), allowed)).toEqual({
      address: 'https://vault.example:8200',
      caBundle: CA,
      vaultNamespace: 'ops',
      authMount: 'kubernetes',
      role: 'controller-role',
      serviceAccount: 'controller',
      audiences: ['vault'],
    });
    // Spec fields equal to the operator's change nothing.
    const same = noSa((s) => {
      s.spec.vault.address = 'https://vault.example:8200';
      s.spec.vault.namespace = 'ops';
      s.spec.auth.kubernetes.mount = 'kubernetes';
    });
    expect(identityFor(same, allowed).serviceAccount).toBe('controller');
  });

  it.each<[string, (s: SecretSync) => void]>([
    ['spec.vault.address', (s) => (s.spec.vault.address = 'https://vault-b.example:8200')],
    ['spec.vault.namespace', (s) => (s.spec.vault.namespace = 'team-a')],
    ['spec.vault.caBundle', (s) => (s.spec.vault.caBundle = '-----BEGIN CERTIFICATE-----\ntenant\n')],
    ['spec.auth.kubernetes.mount', (s) => (s.spec.auth.kubernetes.mount = 'tenant-k8s')],
    ['spec.auth.kubernetes.role', (s) => (s.spec.auth.kubernetes.role = 'admin')],
  ])('refuses %s set to anything else (InvalidSpec)', (field, edit) => {
    const err = thrown(() => identityFor(noSa(edit), allowed));
    expect(err).toMatchObject({ reason: 'InvalidSpec', terminal: true });
    expect(err.message).toContain(field);
    expect(err.message).toContain('set spec.auth.kubernetes.serviceAccountName');
  });

  it('is refused when the operator did not allow it, or named no role for it', () => {
    expect(thrown(() => identityFor(noSa(), defaults())).message).toContain('ask the operator to allow');
    const noRole = defaults({ allowControllerIdentity: true });
    expect(thrown(() => identityFor(noSa(), noRole)).message).toContain('--controller-vault-role');
  });
});
