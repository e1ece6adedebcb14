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
  /** Push refresh: skip the short-lived read cache (in-flight reads are still joined). */
  fresh?: boolean;
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
}

export interface VaultReader {
  /** Throws SyncError with a Vault* or BadVaultData reason. */
  readKv(req: KvReadRequest, signal?: AbortSignal): Promise<KvSecret>;
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
