/** What the rest of the controller asks of Vault. Implemented by createVaultReader; faked in unit tests. */

/** Who logs into Vault. Tokens are cached per identity; reads are shared only within one. */
export interface VaultIdentity {
  address: string;
  /** Vault Enterprise namespace (X-Vault-Namespace). */
  vaultNamespace?: string;
  /** PEM CA bundle for Vault's TLS; part of the identity because it selects the connection. */
  caBundle?: string;
  authMount: string;
  role: string;
  /** The ServiceAccount whose token is presented; `controller` is the controller's own projected token. */
  serviceAccount: { namespace: string; name: string } | 'controller';
  audiences: readonly string[];
}

export interface KvReadRequest {
  identity: VaultIdentity;
  mount: string;
  path: string;
  /** Pinned KV v2 version; absent reads the latest. */
  version?: number;
  /** Push refresh: accept only a result whose read started at or after `freshSince`. */
  fresh?: boolean;
  /** With `fresh`: when the push came (the reader's clock); the readers of one push share one read
   *  made since. Absent: a read started now. */
  freshSince?: number;
  /** Accept a shared (cached) result at most this old; absent: the reader's cache TTL. */
  maxAgeMs?: number;
  /** Rate-limit queue priority, higher first (push and new SecretSyncs ahead of periodic refreshes). Default 0. */
  priority?: number;
  /** Whose budget the requests count against: the SecretSync's namespace (per-namespace Vault rate). */
  tenant?: string;
}

export interface KvSecret {
  data: Record<string, unknown>;
  version: number;
  createdTime?: string;
  /** When the read that produced this result started (the reader's clock): a shared result may be
   *  older than the sync that uses it. Set by the coalescing reader. */
  readAt?: number;
}

export interface VaultReader {
  /** Throws SyncError with a Vault* or BadVaultData reason. */
  readKv(req: KvReadRequest, signal?: AbortSignal): Promise<KvSecret>;
}

/** Who asks, and under whose budget: every lease request runs as the SecretSync's identity. */
export interface LeaseCallContext {
  identity: VaultIdentity;
  /** Rate-limit priority, higher first. */
  priority?: number;
  /** The SecretSync's namespace (per-namespace Vault rate). */
  tenant?: string;
}

/** A secret Vault minted: database credentials (with a lease), a certificate or static credentials
 *  (leaseId '' : nothing to renew or revoke). */
export interface LeasedSecret {
  leaseId: string;
  leaseDurationSeconds: number;
  renewable: boolean;
  data: Record<string, unknown>;
}

export interface LeaseRenewal {
  /** What Vault granted: less than asked when the lease reaches its max TTL. */
  leaseDurationSeconds: number;
  renewable: boolean;
}

export interface IssueRequest extends LeaseCallContext {
  /** Under /v1/, already encoded (sources build it with the vault/ path helpers). */
  path: string;
  method: 'GET' | 'POST';
  body?: Record<string, unknown>;
  /** For messages, e.g. `database credentials database/creds/app`. */
  what: string;
  /** What to check when Vault refuses for good (404, 400), e.g. that the role exists. */
  hint: string;
}

/** Vault requests of the dynamic sources; none is cached or shared between SecretSyncs. */
export interface VaultLeases {
  /** Mints a secret. Throws SyncError (Vault* or BadVaultData). */
  issue(req: IssueRequest, signal: AbortSignal): Promise<LeasedSecret>;
  /** sys/leases/renew/<id>; 'gone' when Vault no longer holds the lease. */
  renew(
    req: LeaseCallContext & { leaseId: string; incrementSeconds?: number },
    signal: AbortSignal,
  ): Promise<LeaseRenewal | 'gone'>;
  /** sys/leases/revoke/<id>; a lease already gone is not an error. */
  revoke(req: LeaseCallContext & { leaseId: string }, signal: AbortSignal): Promise<void>;
  /** sys/leases/lookup: the lease's remaining TTL, or undefined when Vault no longer holds it. */
  lookup(
    req: LeaseCallContext & { leaseId: string },
    signal: AbortSignal,
  ): Promise<{ ttlSeconds: number; renewable: boolean } | undefined>;
}

/** Short-lived ServiceAccount tokens (TokenRequest) for Kubernetes-auth logins. */
export interface ServiceAccountTokenSource {
  /** Throws SyncError('ServiceAccountTokenFailed', …) when the API server refuses. */
  request(
    sa: { namespace: string; name: string },
    audiences: readonly string[],
    signal?: AbortSignal,
  ): Promise<{ token: string; expiresAt: number }>;
}
