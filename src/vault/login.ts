import { isSyncError, SyncError } from '../errors.js';
import type { ServiceAccountTokenSource, VaultIdentity } from './types.js';
import { badData, loginFailure } from './classify.js';
import type { VaultHttpResponse } from './connection.js';
import { encodeSegments } from './kv.js';

export interface JwtSources {
  tokens: ServiceAccountTokenSource;
  /** Reads a whole file as UTF-8; a dependency so tests can point it anywhere. */
  readFile: (path: string) => Promise<string>;
  /** The controller's projected ServiceAccount token, re-read at each login (kubelet rotates it). */
  controllerTokenPath: string;
}

/** The JWT presented to Vault's Kubernetes auth method for this identity. */
export async function obtainJwt(identity: VaultIdentity, sources: JwtSources, signal?: AbortSignal): Promise<string> {
  const sa = identity.serviceAccount;
  if (sa === 'controller') {
    let jwt: string;
    try {
      jwt = (await sources.readFile(sources.controllerTokenPath)).trim();
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      throw new SyncError(
        'ServiceAccountTokenFailed',
        `Could not read the controller's ServiceAccount token from ${sources.controllerTokenPath} (${typeof code === 'string' ? code : 'read failed'})`,
      );
    }
    if (jwt === '') {
      throw new SyncError(
        'ServiceAccountTokenFailed',
        `The controller's ServiceAccount token file ${sources.controllerTokenPath} is empty`,
      );
    }
    return jwt;
  }
  try {
    return (await sources.tokens.request(sa, identity.audiences, signal)).token;
  } catch (err) {
    if (isSyncError(err) || signal?.aborted === true) throw err;
    // An unexpected error could carry anything; only its class name goes into the message.
    const kind = err instanceof Error ? err.name : typeof err;
    throw new SyncError(
      'ServiceAccountTokenFailed',
      `Could not obtain a token for ServiceAccount ${sa.namespace}/${sa.name} (${kind})`,
    );
  }
}

export interface VaultLogin {
  token: string;
  /** Seconds the Vault token lives; 0 means it does not expire. */
  ttlSeconds: number;
}

export const loginPath = (authMount: string): string => `auth/${encodeSegments('auth mount', authMount)}/login`;

/** Vault's answer to `POST auth/<mount>/login`, as a token or a SyncError naming role and mount. */
export function interpretLoginResponse(
  res: VaultHttpResponse,
  identity: VaultIdentity,
  credentials: readonly string[],
): VaultLogin {
  if (res.status !== 200) throw loginFailure(res, identity, credentials);
  const what = `the login as role ${identity.role} at auth/${identity.authMount}`;
  const auth = (res.body as { auth?: unknown } | null | undefined)?.auth;
  if (typeof auth !== 'object' || auth === null) throw badData(what, 'no auth object', res.status);
  const { client_token: token, lease_duration: ttl } = auth as Record<string, unknown>;
  if (typeof token !== 'string' || token === '') throw badData(what, 'no auth.client_token', res.status);
  if (typeof ttl !== 'number' || !Number.isFinite(ttl) || ttl < 0) {
    throw badData(what, 'no valid auth.lease_duration', res.status);
  }
  return { token, ttlSeconds: ttl };
}
