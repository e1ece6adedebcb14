/** What the Vault client reports; prom-client is wired to it elsewhere. */
/** `issue`: database credentials or a certificate; `renew`, `revoke`: their leases (sources/leases). */
export type VaultOperation = 'login' | 'read' | 'issue' | 'renew' | 'revoke' | 'lookup';
export type VaultCache = 'token' | 'read';
export type LoginResult = 'success' | 'failure';

export interface VaultMetrics {
  /** One HTTP exchange with Vault: its status code, or 'error' when no response came. */
  request(operation: VaultOperation, status: number | 'error', seconds: number): void;
  cacheHit(cache: VaultCache): void;
  cacheMiss(cache: VaultCache): void;
  login(result: LoginResult): void;
}

export const noopVaultMetrics: VaultMetrics = {
  request: () => undefined,
  cacheHit: () => undefined,
  cacheMiss: () => undefined,
  login: () => undefined,
};

export interface VaultMetricCounts {
  /** Keyed `operation status`, e.g. `read 200`, `login error`. */
  requests: Map<string, number>;
  cacheHits: Record<VaultCache, number>;
  cacheMisses: Record<VaultCache, number>;
  logins: Record<LoginResult, number>;
}

/** Plain counters, for tests and debugging. */
export function createCountingVaultMetrics(): VaultMetrics & { counts: VaultMetricCounts } {
  const counts: VaultMetricCounts = {
    requests: new Map(),
    cacheHits: { token: 0, read: 0 },
    cacheMisses: { token: 0, read: 0 },
    logins: { success: 0, failure: 0 },
  };
  return {
    counts,
    request(operation, status) {
      const key = `${operation} ${status}`;
      counts.requests.set(key, (counts.requests.get(key) ?? 0) + 1);
    },
    cacheHit(cache) {
      counts.cacheHits[cache] += 1;
    },
    cacheMiss(cache) {
      counts.cacheMisses[cache] += 1;
    },
    login(result) {
      counts.logins[result] += 1;
    },
  };
}
