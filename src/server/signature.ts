/**
 * The webhook's request signatures, shared by the server (verify) and `vaultsync trigger` (sign).
 * docs/webhook.md describes the same scheme for curl + openssl; keep the two in step.
 *
 *   X-Vaultsync-Timestamp: <unix seconds>
 *   X-Vaultsync-Signature: sha256=<hex HMAC-SHA256(key, "<timestamp>.<raw body>")>
 *
 * GitHub repository webhooks sign the raw body alone (no timestamp):
 *
 *   X-Hub-Signature-256: sha256=<hex HMAC-SHA256(key, <raw body>)>
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export const TIMESTAMP_HEADER = 'x-vaultsync-timestamp';
export const SIGNATURE_HEADER = 'x-vaultsync-signature';
export const GITHUB_SIGNATURE_HEADER = 'x-hub-signature-256';
export const GITHUB_DELIVERY_HEADER = 'x-github-delivery';

/** How far a timestamp may lie from the server's clock, either way. */
export const MAX_SKEW_SECONDS = 300;

const PREFIX = 'sha256=';

function hmac(key: Uint8Array, ...parts: (string | Uint8Array)[]): Buffer {
  const h = createHmac('sha256', key);
  for (const p of parts) h.update(p);
  return h.digest();
}

/** The X-Vaultsync-Signature value for `body` sent at `timestamp` (unix seconds, as sent in the header). */
export function signRequest(key: Uint8Array, timestamp: string, body: string | Uint8Array): string {
  return PREFIX + hmac(key, `${timestamp}.`, body).toString('hex');
}

/** The X-Hub-Signature-256 value GitHub sends for `body`. */
export function signGitHub(key: Uint8Array, body: string | Uint8Array): string {
  return PREFIX + hmac(key, body).toString('hex');
}

/** The 32 digest bytes of a `sha256=<64 hex>` header value; undefined when it has another form. */
export function parseSignature(header: string): Buffer | undefined {
  const hex = header.trim();
  if (!hex.toLowerCase().startsWith(PREFIX)) return undefined;
  const digits = hex.slice(PREFIX.length);
  if (!/^[0-9a-fA-F]{64}$/.test(digits)) return undefined;
  return Buffer.from(digits, 'hex');
}

/** Constant-time check of a presented digest against the HMAC of `parts` under `key`. */
export function digestMatches(presented: Buffer, key: Uint8Array, ...parts: (string | Uint8Array)[]): boolean {
  const expected = hmac(key, ...parts);
  return presented.length === expected.length && timingSafeEqual(presented, expected);
}
