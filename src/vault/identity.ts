import { createHash } from 'node:crypto';
import type { VaultIdentity } from './types.js';

/**
 * A CA bundle is public, so a digest of it may appear in keys and logs; it keeps keys short.
 * Tokens and JWTs never take part in any key.
 */
const caDigest = (caBundle: string | undefined): string =>
  caBundle === undefined ? '' : createHash('sha256').update(caBundle).digest('hex').slice(0, 16);

export const normalizeAddress = (address: string): string => address.replace(/\/+$/, '');

/** Selects one HTTP client: Vault address, CA bundle and Vault Enterprise namespace. */
export function connectionKey(identity: VaultIdentity): string {
  return JSON.stringify([
    normalizeAddress(identity.address),
    identity.vaultNamespace ?? '',
    caDigest(identity.caBundle),
  ]);
}

/**
 * Stable key of a Vault identity: tokens are cached and reads shared under it, and only under it.
 * Built with JSON.stringify of arrays so no two different identities can collide.
 */
export function identityKey(identity: VaultIdentity): string {
  const sa = identity.serviceAccount;
  return JSON.stringify([
    normalizeAddress(identity.address),
    identity.vaultNamespace ?? '',
    caDigest(identity.caBundle),
    identity.authMount,
    identity.role,
    sa === 'controller' ? ['controller'] : [sa.namespace, sa.name],
    [...identity.audiences].sort(),
  ]);
}

/**
 * The one key of a shared read and of a refresh phase group: the identity and what it reads.
 * The coalescing reader shares results only under it; the refresh timing aligns its readers.
 */
export function readGroupKey(
  identity: VaultIdentity,
  target: { mount: string; path: string; version?: number },
): string {
  return JSON.stringify([identityKey(identity), target.mount, target.path, target.version ?? null]);
}

export function describeServiceAccount(identity: VaultIdentity): string {
  const sa = identity.serviceAccount;
  return sa === 'controller' ? "the controller's own ServiceAccount" : `ServiceAccount ${sa.namespace}/${sa.name}`;
}

/** Fields safe to log about an identity (no token, no JWT, no CA). */
export function identityLogFields(identity: VaultIdentity): Record<string, unknown> {
  const sa = identity.serviceAccount;
  return {
    vaultAddress: normalizeAddress(identity.address),
    ...(identity.vaultNamespace === undefined ? {} : { vaultNamespace: identity.vaultNamespace }),
    authMount: identity.authMount,
    role: identity.role,
    serviceAccount: sa === 'controller' ? 'controller' : `${sa.namespace}/${sa.name}`,
  };
}
