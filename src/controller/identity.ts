import type { SecretSync } from '../api/index.js';
import { SyncError } from '../errors.js';
import type { VaultIdentity } from '../vault/types.js';

/** The controller's Vault defaults and identity policy, from Config. */
export interface IdentityDefaults {
  vault: { address: string; caBundle?: string; vaultNamespace?: string; authMount: string };
  tokenAudiences: readonly string[];
  allowControllerIdentity: boolean;
}

/**
 * Who reads Vault for this SecretSync. The ServiceAccount is always looked up in the SecretSync's own
 * namespace: a SecretSync can never act as another namespace's account (tenant isolation). Without a
 * serviceAccountName, the controller's own token is used only where the operator allowed it. Token
 * audiences are limited to the operator's list, so no SecretSync can mint a token other services accept.
 */
export function identityFor(sync: SecretSync, defaults: IdentityDefaults): VaultIdentity {
  const { vault, auth } = sync.spec;
  const k8s = auth.kubernetes;
  let serviceAccount: VaultIdentity['serviceAccount'];
  if (k8s.serviceAccountName !== undefined) {
    serviceAccount = { namespace: sync.metadata.namespace, name: k8s.serviceAccountName };
  } else if (defaults.allowControllerIdentity) {
    serviceAccount = 'controller';
  } else {
    throw new SyncError(
      'InvalidSpec',
      `spec.auth.kubernetes.serviceAccountName is not set and this controller does not log in with its own identity: set serviceAccountName to a ServiceAccount in namespace ${sync.metadata.namespace}, or ask the operator to allow controller identity`,
      { terminal: true },
    );
  }
  if (serviceAccount === 'controller' && vault.address !== undefined && vault.address !== defaults.vault.address) {
    // Otherwise a SecretSync's author could send the controller's own token to a server of theirs.
    throw new SyncError(
      'InvalidSpec',
      `spec.vault.address may not point elsewhere when the controller's own identity is used: remove it, or set spec.auth.kubernetes.serviceAccountName`,
      { terminal: true },
    );
  }
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
    serviceAccount,
    audiences,
  };
}
