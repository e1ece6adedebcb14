import { asRecord } from '../core/json.js';
import { SyncError } from '../errors.js';
import type { ServiceAccountTokenSource } from '../vault/types.js';
import type { KubeHttp } from './http.js';
import { apiErrorDetail, apiStatus } from './request.js';

/** The API server refuses TokenRequests that expire sooner than this. */
export const MIN_TOKEN_EXPIRATION_SECONDS = 600;

export interface TokenRequestSourceDeps {
  api: Pick<KubeHttp, 'request'>;
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
    let response: unknown;
    try {
      response = await this.deps.api.request({
        method: 'POST',
        path: `/api/v1/namespaces/${encodeURIComponent(sa.namespace)}/serviceaccounts/${encodeURIComponent(sa.name)}/token`,
        body: {
          apiVersion: 'authentication.k8s.io/v1',
          kind: 'TokenRequest',
          spec: { audiences: [...audiences], expirationSeconds: this.expirationSeconds },
        },
        signal,
      });
    } catch (err: unknown) {
      throw tokenError(sa, err);
    }
    const status = asRecord(asRecord(response)?.status);
    const token = status?.token;
    const expiresAt = typeof status?.expirationTimestamp === 'string' ? Date.parse(status.expirationTimestamp) : NaN;
    if (typeof token !== 'string' || token === '' || !Number.isFinite(expiresAt)) {
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
