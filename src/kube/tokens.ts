import type { CoreV1Api } from '@kubernetes/client-node';
import { SyncError } from '../errors.js';
import type { ServiceAccountTokenSource } from '../vault/types.js';
import { apiErrorDetail, apiStatus, callOptions } from './request.js';

/** The API server refuses TokenRequests that expire sooner than this. */
export const MIN_TOKEN_EXPIRATION_SECONDS = 600;

export interface TokenRequestSourceDeps {
  core: CoreV1Api;
  /** Asked expiry (config auth.tokenExpirationSeconds); raised to the API server's minimum. */
  expirationSeconds: number;
}

/**
 * Short-lived ServiceAccount tokens from the TokenRequest API (serviceaccounts/<name>/token).
 * The token is returned to the caller only: it is never logged and never put in an error.
 */
export class TokenRequestSource implements ServiceAccountTokenSource {
  private readonly expirationSeconds: number;

  constructor(private readonly deps: TokenRequestSourceDeps) {
    this.expirationSeconds = Math.max(MIN_TOKEN_EXPIRATION_SECONDS, Math.floor(deps.expirationSeconds));
  }

  async request(
    sa: { namespace: string; name: string },
    audiences: readonly string[],
    signal?: AbortSignal,
  ): Promise<{ token: string; expiresAt: number }> {
    let response;
    try {
      response = await this.deps.core.createNamespacedServiceAccountToken(
        {
          name: sa.name,
          namespace: sa.namespace,
          /* eslint-disable @typescript-eslint/no-unsafe-class-instance-assignment -- client-node declares its models as classes, but serializes plain objects by their static type maps */
          body: {
            apiVersion: 'authentication.k8s.io/v1',
            kind: 'TokenRequest',
            spec: { audiences: [...audiences], expirationSeconds: this.expirationSeconds },
          },
          /* eslint-enable @typescript-eslint/no-unsafe-class-instance-assignment */
        },
        callOptions({ signal }),
      );
    } catch (err: unknown) {
      throw tokenError(sa, err);
    }
    const token = response.status?.token;
    const expiry = response.status?.expirationTimestamp;
    const expiresAt = expiry instanceof Date ? expiry.getTime() : Date.parse(String(expiry));
    if (token === undefined || token === '' || !Number.isFinite(expiresAt)) {
      throw new SyncError(
        'ServiceAccountTokenFailed',
        `TokenRequest for ServiceAccount ${sa.namespace}/${sa.name} returned no token or no expiry`,
      );
    }
    return { token, expiresAt };
  }
}

function tokenError(sa: { namespace: string; name: string }, err: unknown): SyncError {
  const status = apiStatus(err);
  const who = `${sa.namespace}/${sa.name}`;
  let message: string;
  if (status === 404) {
    message = `ServiceAccount ${who} does not exist: create it or fix spec.auth.kubernetes.serviceAccountName`;
  } else if (status === 403) {
    message = `the controller may not request tokens for ServiceAccount ${who}: grant it create on serviceaccounts/token in namespace ${sa.namespace}`;
  } else {
    const code = status === undefined ? 'no response' : `HTTP ${status}`;
    message = `TokenRequest for ServiceAccount ${who} failed (${code}): ${apiErrorDetail(err)}`;
  }
  return new SyncError('ServiceAccountTokenFailed', message, { cause: err, status });
}
