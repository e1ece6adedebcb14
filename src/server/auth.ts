/**
 * Who signed a webhook request, and so what it may refresh. Pure: the caller supplies the keys,
 * the time and the raw body; replay of GitHub deliveries is checked by the caller.
 */
import type { KeySet } from './keys.js';
import type { Scope } from './refresh.js';
import {
  GITHUB_DELIVERY_HEADER,
  GITHUB_SIGNATURE_HEADER,
  MAX_SKEW_SECONDS,
  SIGNATURE_HEADER,
  TIMESTAMP_HEADER,
  digestMatches,
  parseSignature,
} from './signature.js';

/** GitHub sends a GUID; anything of this shape is accepted. */
const DELIVERY_ID = /^[A-Za-z0-9_-]{1,128}$/;

export type Headers = Record<string, string | string[] | undefined>;

export type AuthResult =
  | {
      ok: true;
      scope: Scope;
      /** Rate-limit bucket of the key ("global", or the namespaces it belongs to). */
      keyId: string;
      /**
       * Set for GitHub-style signatures, which carry no timestamp: the caller refuses a repeat of
       * either the signature (hex digest) or the delivery id.
       */
      github?: { signature: string; delivery: string };
    }
  | { ok: false; message: string };

export interface AuthInput {
  headers: Headers;
  body: Buffer;
  keys: KeySet;
  nowSeconds: number;
  maxSkewSeconds?: number;
}

export function authenticate({ headers, body, keys, nowSeconds, maxSkewSeconds }: AuthInput): AuthResult {
  const ours = single(headers[SIGNATURE_HEADER]);
  const github = single(headers[GITHUB_SIGNATURE_HEADER]);
  if (ours === null || github === null) return { ok: false, message: 'signature header given more than once' };

  if (ours !== undefined) {
    const timestamp = single(headers[TIMESTAMP_HEADER]);
    if (timestamp === undefined || timestamp === null) {
      return { ok: false, message: `${TIMESTAMP_HEADER} is required with ${SIGNATURE_HEADER}` };
    }
    if (!/^[0-9]{1,12}$/.test(timestamp)) return { ok: false, message: `${TIMESTAMP_HEADER} must be unix seconds` };
    const skew = maxSkewSeconds ?? MAX_SKEW_SECONDS;
    if (Math.abs(nowSeconds - Number(timestamp)) > skew) {
      return { ok: false, message: `${TIMESTAMP_HEADER} is more than ${skew}s from the server's clock` };
    }
    const digest = parseSignature(ours);
    if (!digest) return { ok: false, message: `${SIGNATURE_HEADER} must be sha256=<64 hex digits>` };
    return scopeOf(keys, (key) => digestMatches(digest, key, `${timestamp}.`, body));
  }

  if (github !== undefined) {
    const digest = parseSignature(github);
    if (!digest) return { ok: false, message: `${GITHUB_SIGNATURE_HEADER} must be sha256=<64 hex digits>` };
    const delivery = single(headers[GITHUB_DELIVERY_HEADER]);
    if (delivery === undefined || delivery === null || delivery === '') {
      return { ok: false, message: `${GITHUB_DELIVERY_HEADER} is required with ${GITHUB_SIGNATURE_HEADER}` };
    }
    // Remembered for the replay window: bounded so that the memory per delivery is too.
    if (!DELIVERY_ID.test(delivery)) {
      return { ok: false, message: `${GITHUB_DELIVERY_HEADER} must be at most 128 letters, digits, '-' or '_'` };
    }
    const result = scopeOf(keys, (key) => digestMatches(digest, key, body));
    // The delivery id is not signed, so the signature is remembered too: a captured delivery sent
    // again under a new id is refused by its signature; GitHub's own redelivery by its id.
    return result.ok ? { ...result, github: { signature: digest.toString('hex'), delivery } } : result;
  }

  return { ok: false, message: `request is not signed: send ${SIGNATURE_HEADER} and ${TIMESTAMP_HEADER}` };
}

/** The scope of every key that produced the signature: a global key wins; shared namespace keys add up. */
function scopeOf(keys: KeySet, matches: (key: Buffer) => boolean): AuthResult {
  if (keys.global.some(matches)) return { ok: true, scope: { all: true }, keyId: 'global' };
  const namespaces = new Set<string>();
  for (const [ns, list] of keys.namespaces) if (list.some(matches)) namespaces.add(ns);
  if (namespaces.size === 0) return { ok: false, message: 'signature does not match any key' };
  return { ok: true, scope: { all: false, namespaces }, keyId: `ns:${[...namespaces].join(',')}` };
}

/** The one value of a header; null when it was sent more than once. */
function single(v: string | string[] | undefined): string | undefined | null {
  if (Array.isArray(v)) return v.length === 1 ? v[0] : null;
  return v;
}
