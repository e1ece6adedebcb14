import { describe, expect, it } from 'vitest';
import type { SecretObject } from '../controller/types.js';
import {
  MAX_SECRET_BYTES,
  checkSecretSize,
  estimateSecretBytes,
  renderData,
  renderValue,
  secretKeyProblem,
} from './render.js';

const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');

describe('renderValue', () => {
  it.each([
    ['plain', 'plain'],
    ['', ''],
    ['ünïcødé ✓', 'ünïcødé ✓'],
    [42, '42'],
    [-0.5, '-0.5'],
    [1e21, '1e+21'],
    [true, 'true'],
    [false, 'false'],
    [null, 'null'],
    [{ b: 1, a: [true, null] }, '{"b":1,"a":[true,null]}'],
    [[], '[]'],
  ])('%j → %s', (value, want) => {
    expect(renderValue(value, 'p', 'secret/x')).toBe(want);
  });

  it.each([undefined, Number.NaN, Infinity, () => 1])('%s is BadVaultData', (value) => {
    expect(() => renderValue(value, 'p', 'secret/x')).toThrow(expect.objectContaining({ reason: 'BadVaultData' }));
  });
});

describe('secretKeyProblem', () => {
  it.each(['a', 'A_B', 'tls.crt', '.env', 'a..b', '-x', 'x'.repeat(253), 'constructor', '__proto'])(
    '%s is valid',
    (key) => {
      expect(secretKeyProblem(key)).toBeUndefined();
    },
  );
  it.each(['', '.', '..', '..data', 'a b', 'a/b', 'é', 'x'.repeat(254), '__proto__'])('%j is invalid', (key) => {
    expect(secretKeyProblem(key)).toBeTypeOf('string');
  });
});

describe('renderData', () => {
  it('renders all keys as base64 and lists keys that are not env var names', () => {
    const out = renderData(undefined, { A: 'x', 'b.c': 1, _d: null }, 'secret/x');
    expect(out.data).toEqual({ A: b64('x'), 'b.c': b64('1'), _d: b64('null') });
    expect(out.nonEnvVarKeys).toEqual(['b.c']);
  });

  it('refuses a Vault secret with no keys rather than blanking the Secret', () => {
    expect(() => renderData(undefined, {}, 'secret/x version 2')).toThrow(
      expect.objectContaining({ reason: 'BadVaultData' }),
    );
    expect(() => renderData(undefined, {}, 'secret/x version 2')).toThrow('secret/x version 2 has no keys');
  });

  it('refuses a Vault key __proto__, which the client library would drop from the Secret', () => {
    const source = JSON.parse('{"__proto__": "v", "ok": "x"}') as Record<string, unknown>;
    expect(() => renderData(undefined, source, 'secret/x')).toThrow(
      expect.objectContaining({ reason: 'InvalidSecretKey' }),
    );
    expect(() => renderData([{ secretKey: '__proto__', property: 'ok' }], source, 'secret/x')).toThrow(
      expect.objectContaining({ reason: 'InvalidSpec' }),
    );
  });

  it('reads a Vault property named __proto__ as an ordinary property, under another key', () => {
    const source = JSON.parse('{"__proto__": "v"}') as Record<string, unknown>;
    const out = renderData([{ secretKey: 'PROTO', property: '__proto__' }], source, 'secret/x');
    expect(out.data).toEqual({ PROTO: b64('v') });
    expect(Object.getPrototypeOf(out.data)).toBe(Object.prototype);
  });

  it('does not find inherited properties', () => {
    expect(() => renderData([{ secretKey: 'k', property: 'toString' }], {}, 'secret/x')).toThrow(
      expect.objectContaining({ reason: 'PropertyNotFound' }),
    );
  });

  it.each([
    [[{ secretKey: '..x', property: 'a' }], 'InvalidSpec'],
    [
      [
        { secretKey: 'k', property: 'a' },
        { secretKey: 'k', property: 'b' },
      ],
      'InvalidSpec',
    ],
  ])('rejects spec.data %j with %s', (items, reason) => {
    expect(() => renderData(items, { a: '1', b: '2' }, 'secret/x')).toThrow(expect.objectContaining({ reason }));
  });
});

describe('size check', () => {
  const secret = (bytes: number): SecretObject => ({
    metadata: { name: 's', namespace: 'n' },
    type: 'Opaque',
    data: { k: 'A'.repeat(bytes) },
  });

  it('estimates at least the serialized size', () => {
    const s = secret(1000);
    expect(estimateSecretBytes(s)).toBeGreaterThan(JSON.stringify(s).length);
  });

  it('refuses just over the limit and accepts just under it, naming the size', () => {
    const overhead = estimateSecretBytes(secret(0));
    expect(() => {
      checkSecretSize(secret(MAX_SECRET_BYTES - overhead));
    }).not.toThrow();
    expect(() => {
      checkSecretSize(secret(MAX_SECRET_BYTES - overhead + 1));
    }).toThrow(
      expect.objectContaining({
        reason: 'SecretTooLarge',
        message: expect.stringContaining(String(MAX_SECRET_BYTES + 1)) as unknown,
      }),
    );
  });
});
