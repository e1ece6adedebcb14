import type { Config } from '../config.js';
import { SyncError } from '../errors.js';
import type { Clock, Logger } from '../core/types.js';
import type { ServiceAccountTokenSource, VaultLeases, VaultReader } from './types.js';
import { AllowedAddresses } from './address.js';
import { CoalescingReader } from './coalesce.js';
import { ConnectionPool } from './connection.js';
import { VaultLimiter } from './limiter.js';
import { noopVaultMetrics, type VaultMetrics } from './metrics.js';
import { identityKey } from './identity.js';
import { createVaultLeases } from './leases.js';
import { AuthenticatedReader } from './reader.js';

export { identityKey, readGroupKey } from './identity.js';
export { AllowedAddresses, isBareOrigin, originOf } from './address.js';
export { addressNotAllowed } from './classify.js';
export { enginePath } from './leases.js';
export type * from './types.js';
export {
  createCountingVaultMetrics,
  noopVaultMetrics,
  type LoginResult,
  type VaultCache,
  type VaultMetricCounts,
  type VaultMetrics,
  type VaultOperation,
} from './metrics.js';

export type VaultReaderConfig = Pick<
  Config['vault'],
  'requestTimeoutMs' | 'readCacheTtlMs' | 'requestsPerSecond' | 'maxInFlight' | 'loginsPerSecond' | 'allowedAddresses'
> &
  Pick<Config['auth'], 'tokenPath'> & {
    /** Vault requests per second for one tenant (namespace); absent: only the global budget. */
    requestsPerSecondPerTenant?: number;
  };

export interface VaultReaderDeps {
  config: VaultReaderConfig;
  /** TokenRequest tokens for SecretSync ServiceAccounts. */
  tokens: ServiceAccountTokenSource;
  /** Reads a file as UTF-8 (the controller's projected token, at each login). */
  readFile: (path: string) => Promise<string>;
  clock: Clock;
  log: Logger;
  metrics?: VaultMetrics;
}

export interface ClosableVaultReader extends VaultReader {
  /** Requests of the dynamic sources (database credentials, certificates, their leases). */
  leases: VaultLeases;
  /** Aborts waiting and in-flight requests, forgets tokens and results, closes connections. */
  close(): Promise<void>;
}

/** The Vault side of a sync: Kubernetes-auth logins, token cache, coalesced rate-limited KV v2 reads. */
export function createVaultReader(deps: VaultReaderDeps): ClosableVaultReader {
  const { config, clock } = deps;
  const metrics = deps.metrics ?? noopVaultMetrics;
  const log = deps.log.child({ component: 'vault' });
  const pool = new ConnectionPool({
    timeoutMs: config.requestTimeoutMs,
    allowed: new AllowedAddresses(config.allowedAddresses),
  });
  const authenticated = new AuthenticatedReader({
    pool,
    limiter: new VaultLimiter(config),
    jwt: { tokens: deps.tokens, readFile: deps.readFile, controllerTokenPath: config.tokenPath },
    clock,
    log,
    metrics,
  });
  const coalescing = new CoalescingReader({
    fetch: (req, key, options) => authenticated.read(req, key, options),
    cacheTtlMs: config.readCacheTtlMs,
    clock,
    metrics,
  });
  let closed = false;
  const shutDown = () => new SyncError('VaultUnavailable', 'The Vault client is shut down');
  const leases = createVaultLeases((identity, operation, request, what, interpret, options) => {
    if (closed) return Promise.reject(shutDown());
    return authenticated.call(identity, identityKey(identity), operation, request, what, interpret, options);
  });
  return {
    leases,
    readKv(req, signal) {
      if (closed) return Promise.reject(shutDown());
      return coalescing.readKv(req, signal);
    },
    close() {
      closed = true;
      coalescing.close(shutDown());
      authenticated.close(shutDown());
      pool.close();
      return Promise.resolve();
    },
  };
}
