import type { SecretSync } from '../api/index.js';
import { SyncError } from '../errors.js';
import { addressNotAllowed, AllowedAddresses } from '../vault/index.js';
import type { VaultIdentity } from '../vault/types.js';

/** The controller's Vault defaults and identity policy, from Config. */
export interface IdentityDefaults {
  vault: {
    address: string;
    caBundle?: string;
    vaultNamespace?: string;
    authMount: string;
    /** Addresses a SecretSync may choose (--vault-allowed-addresses); absent: only `address`. */
    allowedAddresses?: readonly string[];
  };
  tokenAudiences: readonly string[];
  allowControllerIdentity: boolean;
  /** Vault role of the controller's own login (--controller-vault-role). */
  controllerVaultRole?: string;
}

const allowLists = new WeakMap<IdentityDefaults, AllowedAddresses>();

function allowListOf(defaults: IdentityDefaults): AllowedAddresses {
  let allowed = allowLists.get(defaults);
  if (allowed === undefined) {
    allowed = new AllowedAddresses([defaults.vault.address, ...(defaults.vault.allowedAddresses ?? [])]);
    allowLists.set(defaults, allowed);
  }
  return allowed;
}

/**
 * Who reads Vault for this SecretSync. The ServiceAccount is always looked up in the SecretSync's own
 * namespace: a SecretSync can never act as another namespace's account (tenant isolation). Without a
 * serviceAccountName, the controller's own token is used only where the operator allowed it, and then
 * everything about that login is the operator's. Token audiences are limited to the operator's list,
 * so no SecretSync can mint a token other services accept; the address to the operator's allow-list,
 * checked here, before any TokenRequest or connection.
 */
export function identityFor(sync: SecretSync, defaults: IdentityDefaults): VaultIdentity {
  const { vault, auth } = sync.spec;
  const k8s = auth.kubernetes;
  if (vault.address !== undefined && !allowListOf(defaults).allows(vault.address)) throw addressNotAllowed();
  if (k8s.serviceAccountName === undefined) return controllerIdentity(sync, defaults);
  const audiences = k8s.audiences ?? defaults.tokenAudiences;
  const notAllowed = audiences.filter((a) => !defaults.tokenAudiences.includes(a));
  if (notAllowed.length > 0) {
    // The author also chooses spec.vault.address: a token for the API server's audience, sent there,
    // would be a Kubernetes API credential for any ServiceAccount of the namespace.
    throw new SyncError(
      'InvalidSpec',
      `spec.auth.kubernetes.audiences may only name audiences this controller allows (--token-audiences: ${defaults.tokenAudiences.join(', ')}); ${notAllowed.map((a) => JSON.stringify(a)).join(', ')} is not one of them: remove it, or ask the operator to allow it`,
      { terminal: true },
    );
  }
  const vaultNamespace = vault.namespace ?? defaults.vault.vaultNamespace;
  const caBundle = vault.caBundle ?? defaults.vault.caBundle;
  return {
    address: vault.address ?? defaults.vault.address,
    ...(vaultNamespace === undefined ? {} : { vaultNamespace }),
    ...(caBundle === undefined ? {} : { caBundle }),
    authMount: k8s.mount ?? defaults.vault.authMount,
    role: k8s.role,
    serviceAccount: { namespace: sync.metadata.namespace, name: k8s.serviceAccountName },
    audiences,
  };
}

/**
 * The controller's own login: address, CA, Vault namespace, auth mount and role are the operator's
 * flags. A spec field that would change any of them is refused, so a SecretSync's author can neither
 * send the controller's token to a server of theirs nor log in with a role the operator did not name.
 */
function controllerIdentity(sync: SecretSync, defaults: IdentityDefaults): VaultIdentity {
  const { vault, auth } = sync.spec;
  const k8s = auth.kubernetes;
  const invalid = (message: string) => new SyncError('InvalidSpec', message, { terminal: true });
  if (!defaults.allowControllerIdentity) {
    throw invalid(
      `spec.auth.kubernetes.serviceAccountName is not set and this controller does not log in with its own identity: set serviceAccountName to a ServiceAccount in namespace ${sync.metadata.namespace}, or ask the operator to allow controller identity`,
    );
  }
  const role = defaults.controllerVaultRole;
  if (role === undefined) {
    throw invalid(
      "spec.auth.kubernetes.serviceAccountName is not set and the operator named no Vault role for the controller's own login (--controller-vault-role): set serviceAccountName",
    );
  }
  const d = defaults.vault;
  const changed = [
    vault.address !== undefined && vault.address.replace(/\/+$/, '') !== d.address ? 'spec.vault.address' : undefined,
    vault.namespace !== undefined && vault.namespace !== d.vaultNamespace ? 'spec.vault.namespace' : undefined,
    vault.caBundle !== undefined && vault.caBundle !== d.caBundle ? 'spec.vault.caBundle' : undefined,
    k8s.mount !== undefined && k8s.mount !== d.authMount ? 'spec.auth.kubernetes.mount' : undefined,
    k8s.role !== role ? 'spec.auth.kubernetes.role' : undefined,
  ].filter((f) => f !== undefined);
  if (changed.length > 0) {
    throw invalid(
      `${changed.join(', ')} may not be set to anything but the operator's settings when the controller's own identity is used (no serviceAccountName; role ${role}): remove ${changed.length === 1 ? 'it' : 'them'}, or set spec.auth.kubernetes.serviceAccountName`,
    );
  }
  return {
    address: d.address,
    ...(d.vaultNamespace === undefined ? {} : { vaultNamespace: d.vaultNamespace }),
    ...(d.caBundle === undefined ? {} : { caBundle: d.caBundle }),
    authMount: d.authMount,
    role,
    serviceAccount: 'controller',
    // The projected token's audience is the chart's; spec.auth.kubernetes.audiences has no say.
    audiences: defaults.tokenAudiences,
  };
}
