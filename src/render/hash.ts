import { createHmac } from 'node:crypto';

/** What the content HMAC covers: everything vaultsync decides about a Secret, except the HMAC itself. */
export interface HashedContent {
  type: string;
  immutable: boolean;
  /** base64 values, as written. */
  data: Record<string, string>;
  labels: Record<string, string>;
  /** The annotations vaultsync sets, without HASH_ANNOTATION. */
  annotations: Record<string, string>;
}

/**
 * Keyed HMAC-SHA256 of the content, hex. A plain hash of secret data would let anyone who can read the
 * annotation test guesses of a low-entropy value offline; the key (settings.hashKey) prevents that.
 * The encoding is canonical (sorted keys, JSON strings), so equal content always gives equal HMACs.
 * Rotating the key changes every HMAC, so every managed Secret is rewritten once.
 */
export function contentHmac(key: Buffer, content: HashedContent): string {
  return createHmac('sha256', key).update(canonical(content)).digest('hex');
}

/**
 * Keyed HMAC-SHA256 of a Secret's data alone, hex: what the managed-Secret cache keeps instead of the
 * data (StoredSecret.dataDigest). Domain-separated from contentHmac, so the two never coincide.
 */
export function dataDigest(key: Buffer, data: Record<string, string>): string {
  return createHmac('sha256', key)
    .update(JSON.stringify(['vaultsync/data/v1', sortedEntries(data)]))
    .digest('hex');
}

const sortedEntries = (m: Record<string, string>) => Object.entries(m).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));

function canonical(content: HashedContent): string {
  const sorted = sortedEntries;
  return JSON.stringify([
    'vaultsync/v1',
    content.type,
    content.immutable,
    sorted(content.data),
    sorted(content.labels),
    sorted(content.annotations),
  ]);
}
