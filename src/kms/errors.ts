/**
 * Why a KMS operation failed. Each reason maps to one gRPC status code the apiserver sees and to
 * the `reason` label of the error metrics. Messages name what to check and never contain
 * plaintext, DEKs, ciphertext or tokens: they are built from codes, statuses and Vault's error
 * strings with anything that looks like key material cut out (see scrub()).
 */
import { status as GrpcStatus } from '@grpc/grpc-js';

export const kmsReasons = {
  /** No answer from Vault in time, connection refused/reset, 5xx or 429, or Vault sealed. */
  VaultUnavailable: GrpcStatus.UNAVAILABLE,
  /** The token works but its policy does not allow the Transit operation. */
  VaultForbidden: GrpcStatus.PERMISSION_DENIED,
  /** Login refused, or the token file is missing, empty or holds a token Vault rejects. */
  VaultAuthFailed: GrpcStatus.UNAUTHENTICATED,
  /** Vault answered, but not what the Transit API returns (wrong mount, unknown key, garbage). */
  BadVaultAnswer: GrpcStatus.INTERNAL,
  /** Vault refused the ciphertext (tampered, wrong key, below min_decryption_version). */
  DecryptFailed: GrpcStatus.INVALID_ARGUMENT,
  /** The request itself is unusable (empty plaintext, ciphertext not from this plugin). */
  InvalidRequest: GrpcStatus.INVALID_ARGUMENT,
  /** The data was written under a Transit key other than the one this plugin is configured with. */
  KeyMismatch: GrpcStatus.FAILED_PRECONDITION,
  /** The caller's deadline (or the plugin's own budget) ran out. */
  DeadlineExceeded: GrpcStatus.DEADLINE_EXCEEDED,
} as const satisfies Record<string, GrpcStatus>;

export type KmsReason = keyof typeof kmsReasons;

export class KmsError extends Error {
  override readonly name = 'KmsError';
  constructor(
    readonly reason: KmsReason,
    message: string,
    options: { cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
  }

  get grpcCode(): GrpcStatus {
    return kmsReasons[this.reason];
  }
}

/** Any failure as a KmsError; an unexpected one keeps only its class name, not its message. */
export function asKmsError(err: unknown): KmsError {
  if (err instanceof KmsError) return err;
  const kind = err instanceof Error ? err.name : typeof err;
  return new KmsError('BadVaultAnswer', `unexpected ${kind} in the KMS plugin`);
}

/**
 * Vault's own error strings ("permission denied", "encryption key not found") help operators, but
 * a message could in principle echo input. Runs of base64-like characters long enough to be a
 * token, a ciphertext or key material are replaced, and the text is capped.
 */
export function scrub(text: string, max = 200): string {
  return text
    .replace(/[A-Za-z0-9+/=_.:-]{24,}/g, '[redacted]')
    .replace(/\s+/g, ' ')
    .slice(0, max);
}
