import { describe, expect, it } from 'vitest';
import { digestMatches, parseSignature, signGitHub, signRequest } from './signature.js';

const key = Buffer.from('0123456789abcdef-test-key');
const body = '{"paths":["secret/myapp/config"]}';

describe('signatures', () => {
  // Expected values computed independently (Python hmac, and `openssl dgst -sha256 -hmac` as in docs/webhook.md).
  it('signs "<timestamp>.<body>" as documented', () => {
    expect(signRequest(key, '1700000000', body)).toBe(
      'sha256=90ea5ac9c56bd8ce09374d7695297771f58bf9864b35de54dd55a5b9a2798395',
    );
  });

  it('signs the body alone in the GitHub form', () => {
    expect(signGitHub(key, body)).toBe('sha256=560d372a317a497f2a509c06054071e7cc61995bde0813ed9344867fa1d39821');
  });

  it('parses only sha256=<64 hex>, case-insensitively', () => {
    const good = signRequest(key, '1', body);
    expect(parseSignature(good)?.length).toBe(32);
    expect(parseSignature(good.toUpperCase().replace('SHA256=', 'sha256='))).toEqual(parseSignature(good));
    expect(parseSignature(good.slice(0, -1))).toBeUndefined();
    expect(parseSignature(good.replace('sha256=', 'sha1='))).toBeUndefined();
    expect(parseSignature(`${good}00`)).toBeUndefined();
    expect(parseSignature('sha256=' + 'g'.repeat(64))).toBeUndefined();
  });

  it('matches the right key and parts only', () => {
    const digest = parseSignature(signRequest(key, '1700000000', body))!;
    expect(digestMatches(digest, key, '1700000000.', body)).toBe(true);
    expect(digestMatches(digest, key, '1700000001.', body)).toBe(false);
    expect(digestMatches(digest, key, '1700000000.', body.replace('myapp', 'other'))).toBe(false);
    expect(digestMatches(digest, Buffer.from('another-key-of-some-length'), '1700000000.', body)).toBe(false);
  });
});
