import { SyncError } from '../errors.js';
import type { VaultIdentity } from './types.js';
import type { VaultHttpResponse, VaultTransportError } from './connection.js';
import { describeServiceAccount, normalizeAddress } from './identity.js';

/** The outage a VaultUnavailable error reports: one Vault address (the scheduler's dependency). */
export const vaultDependency = (identity: Pick<VaultIdentity, 'address'>): string =>
  `vault ${normalizeAddress(identity.address)}`;

/** What a read was for, to name it in messages. */
export interface ReadTarget {
  identity: VaultIdentity;
  mount: string;
  path: string;
  version?: number;
}

export const describeTarget = (t: ReadTarget): string =>
  `${t.mount}/${t.path}${t.version === undefined ? '' : ` version ${t.version}`}`;

/**
 * Vault's own `errors` strings ("permission denied", "Vault is sealed") name no secret data, so
 * they may appear in messages. They are flattened, capped, and scrubbed of the credentials of the
 * request in case a proxy in front of Vault echoes them.
 */
export function vaultErrorText(body: unknown, credentials: readonly string[]): string {
  const errors = (body as { errors?: unknown } | null | undefined)?.errors;
  if (!Array.isArray(errors)) return '';
  let text = errors
    .filter((e): e is string => typeof e === 'string')
    .join('; ')
    .replace(/[\s*]+/g, ' ')
    .trim();
  for (const credential of credentials) {
    if (credential.length > 0) text = text.split(credential).join('[redacted]');
  }
  return text.length > 300 ? `${text.slice(0, 300)}…` : text;
}

function statusText(res: VaultHttpResponse, credentials: readonly string[]): string {
  const text = vaultErrorText(res.body, credentials);
  return text === '' ? `HTTP ${res.status}` : `HTTP ${res.status}: ${text}`;
}

/** 5xx (503 sealed or standby), 429 and 412 (eventual consistency) pass; retrying helps. */
const isTransient = (status: number): boolean => status >= 500 || status === 429 || status === 412;

/** A failed read other than 404, which the KV layer interprets itself. */
export function readFailure(res: VaultHttpResponse, target: ReadTarget, credentials: readonly string[]): SyncError {
  const what = describeTarget(target);
  const detail = statusText(res, credentials);
  const status = res.status;
  if (status === 403) {
    return new SyncError(
      'VaultForbidden',
      `Vault denied read of ${what} for role ${target.identity.role} (auth mount ${target.identity.authMount}, ${describeServiceAccount(target.identity)}; ${detail}): check the role's policy allows read on ${target.mount}/data/${target.path}`,
      { status },
    );
  }
  if (status === 404) {
    return new SyncError(
      'VaultPathNotFound',
      `Vault has no secret at ${what} (${detail}): check the KV v2 mount and path`,
      { status },
    );
  }
  if (isTransient(status)) {
    return new SyncError(
      'VaultUnavailable',
      `Vault at ${target.identity.address} could not serve read of ${what} (${detail}); will retry`,
      { status, dependency: vaultDependency(target.identity) },
    );
  }
  return new SyncError(
    'BadVaultData',
    `Vault rejected read of ${what} (${detail}): check that ${target.mount} is a KV version 2 mount`,
    { status },
  );
}

export function loginFailure(
  res: VaultHttpResponse,
  identity: VaultIdentity,
  credentials: readonly string[],
): SyncError {
  const detail = statusText(res, credentials);
  const status = res.status;
  if (isTransient(status)) {
    return new SyncError(
      'VaultUnavailable',
      `Vault at ${identity.address} could not serve login as role ${identity.role} at auth/${identity.authMount} (${detail}); will retry`,
      { status, dependency: vaultDependency(identity) },
    );
  }
  const audiences =
    identity.serviceAccount === 'controller' ? '' : ` (token audiences: ${identity.audiences.join(', ')})`;
  return new SyncError(
    'VaultAuthFailed',
    `Vault refused Kubernetes-auth login as role ${identity.role} at auth/${identity.authMount} for ${describeServiceAccount(identity)} (${detail}): check that the auth method is mounted there, the role exists and is bound to this ServiceAccount and namespace, and its audience matches the token's${audiences}`,
    { status },
  );
}

const TLS_CODE = /CERT|SELF_SIGNED|TLS|SSL|UNABLE_TO_VERIFY|UNABLE_TO_GET_ISSUER/;

export function transportFailure(err: VaultTransportError, identity: VaultIdentity, operation: string): SyncError {
  if (err.code === 'ERESPONSETOOLARGE') {
    return new SyncError(
      'BadVaultData',
      `Vault at ${identity.address} answered ${operation} with more data than any Secret can hold (${err.message}): check spec.vault.address and the path`,
      { cause: err },
    );
  }
  if (err.code === 'EBADENCODING') {
    return new SyncError(
      'BadVaultData',
      `Vault at ${identity.address} answered ${operation} with a body vaultsync does not read (${err.message}): check spec.vault.address`,
      { cause: err },
    );
  }
  if (err.code === 'EREDIRECT') {
    return new SyncError(
      'VaultRedirectRefused',
      `Vault at ${identity.address} ${err.message} (${operation}): check spec.vault.address, or, for the nodes of a Vault cluster, ask the operator to add their addresses to --vault-allowed-addresses`,
      { cause: err },
    );
  }
  if (err.code === 'EADDRESSNOTALLOWED') return addressNotAllowed({ cause: err });
  const hint = TLS_CODE.test(err.code)
    ? ": check the Vault CA bundle (caBundle or --vault-ca-file) and the server's certificate"
    : '; will retry';
  return new SyncError(
    'VaultUnavailable',
    `Could not reach Vault at ${identity.address} for ${operation} (${err.code}${err.code === 'ETIMEDOUT' ? `: ${err.message}` : ''})${hint}`,
    { cause: err, dependency: vaultDependency(identity) },
  );
}

/** The one answer for an address the operator did not allow: it says nothing of the address itself
 *  (reachable or not, what listens there), since no request is made to find out. */
export function addressNotAllowed(options: { cause?: unknown } = {}): SyncError {
  return new SyncError(
    'VaultAddressNotAllowed',
    'spec.vault.address is not an address this controller may use: remove it to use the default Vault, or ask the operator to add it to --vault-allowed-addresses',
    { terminal: true, ...options },
  );
}

export function badData(what: string, why: string, status: number): SyncError {
  return new SyncError('BadVaultData', `Vault answered ${what} with unexpected data (${why})`, { status });
}
