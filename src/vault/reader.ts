import { isSyncError } from '../errors.js';
import type { Clock, Logger } from '../core/types.js';
import type { KvReadRequest, KvSecret, VaultIdentity } from './types.js';
import { describeTarget, transportFailure } from './classify.js';
import {
  VaultTransportError,
  type ConnectionPool,
  type VaultHttpRequest,
  type VaultHttpResponse,
} from './connection.js';
import { identityLogFields } from './identity.js';
import { interpretKvResponse, kvDataPath } from './kv.js';
import type { ScheduleOptions, VaultLimiter } from './limiter.js';
import { interpretLoginResponse, loginPath, obtainJwt, type JwtSources, type VaultLogin } from './login.js';
import type { VaultMetrics, VaultOperation } from './metrics.js';
import { TokenCache } from './tokens.js';

export interface AuthenticatedReaderDeps {
  pool: ConnectionPool;
  limiter: VaultLimiter;
  jwt: JwtSources;
  clock: Clock;
  log: Logger;
  metrics: VaultMetrics;
}

type Options = ScheduleOptions & { signal: AbortSignal };

/**
 * KV v2 reads with a cached token per identity. A 403 may mean the token was revoked, so it is
 * dropped, a new login made and the read retried once; a second 403 is the role's policy.
 */
export class AuthenticatedReader {
  readonly #deps: AuthenticatedReaderDeps;
  readonly #tokens: TokenCache;

  constructor(deps: AuthenticatedReaderDeps) {
    this.#deps = deps;
    this.#tokens = new TokenCache({
      login: (identity, options) => this.#login(identity, options),
      clock: deps.clock,
      log: deps.log,
      metrics: deps.metrics,
    });
  }

  /** `key` is identityKey(req.identity). Throws SyncError. */
  async read(req: KvReadRequest, key: string, options: Options): Promise<KvSecret> {
    const path = kvDataPath(req);
    const token = await this.#tokens.get(req.identity, key, options);
    try {
      return await this.#readWith(req, path, token, options);
    } catch (err) {
      if (!isSyncError(err) || err.reason !== 'VaultForbidden') throw err;
      this.#deps.log.info(
        { ...identityLogFields(req.identity), kv: describeTarget(req) },
        'Vault denied a read; logging in again and retrying once',
      );
      this.#tokens.invalidate(key, token);
      const fresh = await this.#tokens.get(req.identity, key, options);
      return await this.#readWith(req, path, fresh, options);
    }
  }

  /**
   * Any other authenticated request (dynamic sources: issue, renew, revoke), with the same token
   * cache and one retry after a fresh login on 403. `interpret` turns the answer into a value or a
   * SyncError and must not quote the credentials it is given.
   */
  async call<T>(
    identity: VaultIdentity,
    key: string,
    operation: VaultOperation,
    req: Omit<VaultHttpRequest, 'token'>,
    what: string,
    interpret: (res: VaultHttpResponse, credentials: readonly string[]) => T,
    options: Options,
  ): Promise<T> {
    const once = async (token: string): Promise<T> => {
      const res = await this.#exchange(operation, identity, { ...req, token }, what, options);
      return interpret(res, [token]);
    };
    const token = await this.#tokens.get(identity, key, options);
    try {
      return await once(token);
    } catch (err) {
      if (!isSyncError(err) || err.reason !== 'VaultForbidden') throw err;
      this.#deps.log.info(
        { ...identityLogFields(identity), operation },
        'Vault denied a request; logging in again and retrying once',
      );
      this.#tokens.invalidate(key, token);
      return await once(await this.#tokens.get(identity, key, options));
    }
  }

  close(reason: Error): void {
    this.#tokens.close(reason);
  }

  async #readWith(req: KvReadRequest, path: string, token: string, options: Options): Promise<KvSecret> {
    const what = `read of ${describeTarget(req)}`;
    const res = await this.#exchange('read', req.identity, { method: 'GET', path, token }, what, options);
    return interpretKvResponse(res, req, [token]);
  }

  async #login(identity: VaultIdentity, options: Options): Promise<VaultLogin> {
    try {
      const jwt = await obtainJwt(identity, this.#deps.jwt, options.signal);
      const body = { role: identity.role, jwt };
      const what = `login as role ${identity.role} at auth/${identity.authMount}`;
      const request = { method: 'POST', path: loginPath(identity.authMount), body } as const;
      const res = await this.#exchange('login', identity, request, what, options);
      const login = interpretLoginResponse(res, identity, [jwt]);
      this.#deps.metrics.login('success');
      return login;
    } catch (err) {
      if (!options.signal.aborted) this.#deps.metrics.login('failure');
      throw err;
    }
  }

  /** One HTTP exchange inside the request budget (and the login budget for logins). */
  #exchange(
    operation: VaultOperation,
    identity: VaultIdentity,
    req: VaultHttpRequest,
    what: string,
    options: Options,
  ): Promise<VaultHttpResponse> {
    const { pool, limiter, clock, metrics } = this.#deps;
    const task = async (): Promise<VaultHttpResponse> => {
      const started = clock.now();
      const seconds = () => (clock.now() - started) / 1000;
      try {
        // The connection is taken when the request runs, not when it was queued, so the pool never
        // closes one a queued request is about to use.
        const res = await pool.send(identity, req, options.signal);
        metrics.request(operation, res.status, seconds());
        return res;
      } catch (err) {
        if (!(err instanceof VaultTransportError)) throw err;
        metrics.request(operation, 'error', seconds());
        throw transportFailure(err, identity, what);
      }
    };
    return operation === 'login' ? limiter.login(task, options) : limiter.request(task, options);
  }
}
