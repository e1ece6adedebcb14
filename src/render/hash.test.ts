import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { contentHmac, type HashedContent } from './hash.js';

const key = Buffer.from('k1');
const base: HashedContent = {
  type: 'Opaque',
  immutable: false,
  data: { a: 'eA==', b: 'eQ==' },
  labels: { l: '1' },
  annotations: { n: '1' },
};

describe('contentHmac', () => {
  it('is hex HMAC-SHA256 and depends on the key', () => {
    const h = contentHmac(key, base);
    expect(h).toMatch(/^[0-9a-f]{64}$/);
    expect(contentHmac(Buffer.from('k2'), base)).not.toBe(h);
  });

  it('is not a plain hash of the data or of any simple encoding of it', () => {
    const h = contentHmac(key, base);
    for (const text of [JSON.stringify(base), JSON.stringify(base.data), 'eA==', 'x']) {
      expect(createHash('sha256').update(text).digest('hex')).not.toBe(h);
    }
  });

  it('ignores key order', () => {
    const reordered: HashedContent = { ...base, data: { b: 'eQ==', a: 'eA==' } };
    expect(contentHmac(key, reordered)).toBe(contentHmac(key, base));
  });

  it.each<[string, Partial<HashedContent>]>([
    ['type', { type: 'kubernetes.io/tls' }],
    ['immutable', { immutable: true }],
    ['a data value', { data: { a: 'eg==', b: 'eQ==' } }],
    ['a data key', { data: { a2: 'eA==', b: 'eQ==' } }],
    ['a label', { labels: { l: '2' } }],
    ['an annotation', { annotations: { n: '1', m: '' } }],
    ['moving an entry from labels to annotations', { labels: {}, annotations: { n: '1', l: '1' } }],
  ])('changes with %s', (_what, change) => {
    expect(contentHmac(key, { ...base, ...change })).not.toBe(contentHmac(key, base));
  });
});
