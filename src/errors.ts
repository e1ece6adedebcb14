/**
 * The one catalog of reasons a sync can fail. A reason becomes the `Ready` condition's
 * reason and an event reason, so each is CamelCase and stable; messages say what to do.
 * Messages never contain secret values, tokens or hashes of them.
 */
export const reasons = {
  /** Vault did not answer, answered 5xx/429, or the connection failed: retried with backoff. */
  VaultUnavailable: { terminal: false },
  /** Vault answered 403 to a read even after a fresh login: the role's policy does not allow it. */
  VaultForbidden: { terminal: false },
  /** The KV v2 path (or pinned version) does not exist, or the version is deleted or destroyed. */
  VaultPathNotFound: { terminal: false },
  /** Kubernetes-auth login was refused (wrong role, ServiceAccount not bound, audience mismatch). */
  VaultAuthFailed: { terminal: false },
  /** Vault answered something that is not a KV v2 secret (garbage body, wrong mount type). */
  BadVaultData: { terminal: false },
  /** Vault answered with a redirect vaultsync does not follow: to an address the operator did not
   *  allow (--vault-allowed-addresses), to another scheme, or too many in a row. */
  VaultRedirectRefused: { terminal: false },
  /** spec.vault.address is not one the operator allowed (--vault-allowed-addresses); no request is made. */
  VaultAddressNotAllowed: { terminal: true },
  /** A `data[].property` named by the spec is not in the Vault secret. */
  PropertyNotFound: { terminal: false },
  /** A Vault key cannot be a Secret key (all-keys mode), or a rendered value is unusable. */
  InvalidSecretKey: { terminal: false },
  /** A spec.template failed to parse or render (syntax, unknown variable or filter, a limit of time,
   *  memory or output). Parse errors are terminal; render errors depend on the data and are retried. */
  TemplateError: { terminal: false },
  /** The rendered Secret would exceed the API server's 1 MiB object limit. */
  SecretTooLarge: { terminal: false },
  /** A Secret of the target name exists and is not managed by this SecretSync. */
  SecretConflict: { terminal: false },
  /** The ServiceAccount token could not be obtained (TokenRequest refused, token file missing). */
  ServiceAccountTokenFailed: { terminal: false },
  /** The namespace has more SecretSyncs than the controller syncs per namespace; the newest wait. */
  TooManySecretSyncs: { terminal: true },
  /** The spec is invalid in a way the CRD schema cannot express. Fixed only by editing the spec. */
  InvalidSpec: { terminal: true },
  /** The API server refused or failed a write. */
  KubernetesApiError: { terminal: false },
} as const satisfies Record<string, { terminal: boolean }>;

export type Reason = keyof typeof reasons;

export interface SyncErrorOptions {
  cause?: unknown;
  /** Overrides the reason's default: a terminal error is not retried until the spec changes. */
  terminal?: boolean;
  /** HTTP status seen from Vault or the API server, for metrics. */
  status?: number;
  /** What was down, when the error says something is unavailable: e.g. `vault https://vault:8200`.
   *  Outages are tracked per dependency, so one tenant's dead Vault releases no one else's keys. */
  dependency?: string;
}

export class SyncError extends Error {
  override readonly name = 'SyncError';
  readonly reason: Reason;
  readonly terminal: boolean;
  readonly status: number | undefined;
  readonly dependency: string | undefined;

  constructor(reason: Reason, message: string, options: SyncErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.reason = reason;
    this.terminal = options.terminal ?? reasons[reason].terminal;
    this.status = options.status;
    this.dependency = options.dependency;
  }
}

export function isSyncError(err: unknown): err is SyncError {
  return err instanceof SyncError;
}
