import type { DecodingStrategy } from '../api/index.js';

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
const BASE64URL = /^[A-Za-z0-9_-]*={0,2}$/;

/**
 * Decodes a value stored encoded in Vault, strictly: characters outside the alphabet fail (Node's
 * own decoder would skip them and return garbage). Padding is optional; line breaks are ignored,
 * as Go's decoder ignores them. Undefined when the text is not valid in the strategy's alphabet.
 */
export function decodeValue(text: string, strategy: DecodingStrategy | undefined): Buffer | undefined {
  if (strategy === undefined || strategy === 'None') return Buffer.from(text, 'utf8');
  const compact = text.replace(/[\r\n]/g, '');
  const alphabet = strategy === 'Base64' ? BASE64 : BASE64URL;
  if (!alphabet.test(compact) || compact.replace(/=+$/, '').length % 4 === 1) return undefined;
  if (compact.includes('=') && compact.length % 4 !== 0) return undefined;
  return Buffer.from(compact, strategy === 'Base64' ? 'base64' : 'base64url');
}
