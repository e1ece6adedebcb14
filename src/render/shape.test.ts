import { describe, expect, it } from 'vitest';
import { SyncError } from '../errors.js';
import { decodeValue } from './decode.js';
import { lookupProperty, propertySegments } from './property.js';
import { compileRewrite, type Rewrite } from './rewrite.js';
import { mergeItems, renderItem } from './shape.js';

const CANARY = 'Canary_Shape_5e1d';
const text = (m: Map<string, Buffer>) => Object.fromEntries([...m].map(([k, v]) => [k, v.toString('utf8')]));
const WHERE = 'secret/app version 1';

function thrown(fn: () => unknown): SyncError {
  try {
    fn();
  } catch (err) {
    if (err instanceof SyncError) return err;
    throw err;
  }
  throw new Error('expected a SyncError');
}

describe('property paths', () => {
  const data = {
    'nested.bar': 'literal key',
    nested: { foo: 'x', bar: 'deep', 'a.b': 'dotted', list: [{ name: 'n0' }, 'one', [2]] },
    top: 'plain',
    n: null,
    'back\\slash': 'bs',
  };
  it.each([
    ['top', 'plain'],
    ['nested.foo', 'x'],
    ['nested.bar', 'literal key'], // an exact top-level key wins over the path
    ['nested.a\\.b', 'dotted'],
    ['nested.list.0.name', 'n0'],
    ['nested.list.1', 'one'],
    ['nested.list.2.0', 2],
    ['n', null],
    ['back\\\\slash', 'bs'],
    ['nested', data.nested],
  ])('%s', (property, want) => {
    expect(lookupProperty(data, property)).toEqual({ found: true, value: want });
  });
  it.each([
    'missing',
    'nested.missing',
    'nested.list.3',
    'nested.list.01',
    'nested.list.x',
    'top.0',
    'n.a',
    'nested.foo.length',
    'nested.constructor',
    '__proto__',
    'nested.list.length',
  ])('does not find %s', (property) => {
    expect(lookupProperty(data, property)).toEqual({ found: false });
  });
  it('splits on unescaped dots only', () => {
    expect(propertySegments('a\\.b.c\\\\.d\\')).toEqual(['a.b', 'c\\', 'd\\']);
    expect(propertySegments('a..b')).toEqual(['a', '', 'b']);
  });
});

describe('decoding', () => {
  it.each([
    ['aGVsbG8=', 'Base64', 'hello'],
    ['aGVsbG8', 'Base64', 'hello'],
    ['aGVs\nbG8=', 'Base64', 'hello'],
    ['-_8', 'Base64URL', Buffer.from([0xfb, 0xff]).toString('latin1')],
    ['as is', 'None', 'as is'],
    ['as is', undefined, 'as is'],
  ] as const)('%j with %s', (input, strategy, want) => {
    expect(decodeValue(input, strategy)?.toString(strategy === 'Base64URL' ? 'latin1' : 'utf8')).toBe(want);
  });
  it.each([
    ['not base64!', 'Base64'],
    ['-_8', 'Base64'],
    ['+/8', 'Base64URL'],
    ['aGVsbG8=a', 'Base64'],
    ['a', 'Base64'],
  ] as const)('refuses %j as %s', (input, strategy) => {
    expect(decodeValue(input, strategy)).toBeUndefined();
  });
});

describe('rewrites (Go semantics)', () => {
  const rw = (regex: string, replacement: string): Rewrite => {
    const r = compileRewrite(regex, replacement);
    if ('error' in r) throw new Error(r.error);
    return r;
  };
  it.each([
    ['^db_', 'DB_', 'db_user', 'DB_user'],
    ['(\\w+)-(\\w+)', '${2}_$1', 'a-b', 'b_a'],
    ['(?P<first>[a-z]+)', '<${first}>', 'ab1cd', '<ab>1<cd>'],
    ['a*', '-', 'baaac', '-b-c-'],
    ['', '-', 'abc', '-a-b-c-'],
    ['x', '$$', 'axb', 'a$b'],
    ['(a)', '$1x', 'a', ''], // $1x is the group named "1x": empty, as in Go
    ['(a)', '$', 'a', '$'],
    ['\\.', '_', 'tls.crt', 'tls_crt'],
  ])('%s -> %s on %s', (regex, replacement, input, want) => {
    expect(rw(regex, replacement).apply(input)).toBe(want);
  });
  it('refuses what RE2 cannot do, and huge programs', () => {
    expect(compileRewrite('(a)\\1', 'x')).toHaveProperty('error');
    expect(compileRewrite('(?=a)', 'x')).toHaveProperty('error');
    expect(compileRewrite('(a{1,1000}){1,1000}', 'x')).toHaveProperty('error');
  });
  it('matches a pattern that backtracking engines choke on in linear time', () => {
    const started = performance.now();
    expect(rw('^(a+)+$', 'x').apply(`${'a'.repeat(5000)}!`)).toBe(`${'a'.repeat(5000)}!`);
    expect(performance.now() - started).toBeLessThan(2_000);
  });
});

describe('source items', () => {
  const data = {
    user: 'app',
    b64: Buffer.from('bytes\u0000\u00ff', 'latin1').toString('base64'),
    cfg: { db_host: 'h', db_port: 5432, nested: { x: 1 } },
  };
  it('picks nested properties and decodes', () => {
    const v = renderItem(
      {
        data: [
          { secretKey: 'host', property: 'cfg.db_host' },
          { secretKey: 'raw', property: 'b64', decodingStrategy: 'Base64' },
          { secretKey: 'port', property: 'cfg.db_port' },
        ],
      },
      data,
      WHERE,
      'spec.sources[0]',
    );
    expect(v.picked.get('raw')).toEqual(Buffer.from('bytes\u0000\u00ff', 'latin1'));
    expect(text(v.picked)).toMatchObject({ host: 'h', port: '5432' });
    expect(v.all.size).toBe(0);
  });
  it('takes all keys of a nested object, rewritten and prefixed', () => {
    const v = renderItem(
      {
        allKeys: {
          property: 'cfg',
          rewrite: [
            { regex: '^db_', replacement: '' },
            { regex: '[a-z]+', replacement: '${0}' },
          ],
          prefix: 'APP_',
        },
      },
      data,
      WHERE,
      'spec.sources[0]',
    );
    expect(text(v.all)).toEqual({ APP_host: 'h', APP_port: '5432', APP_nested: '{"x":1}' });
  });
  it('fails on keys that collide after a rewrite, naming keys and never values', () => {
    const err = thrown(() =>
      renderItem(
        { allKeys: { rewrite: [{ regex: '.*', replacement: 'same' }] } },
        { a: CANARY, b: CANARY },
        WHERE,
        'spec.sources[2]',
      ),
    );
    expect(err.reason).toBe('InvalidSecretKey');
    expect(err.message).toContain('spec.sources[2].allKeys');
    expect(err.message).not.toContain(CANARY);
  });
  it('fails on invalid Base64 without quoting the value', () => {
    const err = thrown(() =>
      renderItem(
        { data: [{ secretKey: 'k', property: 'v', decodingStrategy: 'Base64' }] },
        { v: `${CANARY}!` },
        WHERE,
        'spec.sources[0]',
      ),
    );
    expect(err.reason).toBe('BadVaultData');
    expect(err.message).not.toContain(CANARY);
  });
  it('fails when allKeys.property is not an object', () => {
    expect(thrown(() => renderItem({ allKeys: { property: 'user' } }, data, WHERE, 'f')).reason).toBe('BadVaultData');
    expect(thrown(() => renderItem({ allKeys: { property: 'nope' } }, data, WHERE, 'f')).reason).toBe(
      'PropertyNotFound',
    );
  });
  it('merges: later all-keys win; picks win; one key picked twice is refused', () => {
    const a = {
      picked: new Map([['P', Buffer.from('pick-a')]]),
      all: new Map([
        ['X', Buffer.from('a')],
        ['P', Buffer.from('all-a')],
      ]),
    };
    const b = {
      picked: new Map<string, Buffer>(),
      all: new Map([
        ['X', Buffer.from('b')],
        ['P', Buffer.from('all-b')],
      ]),
    };
    expect(text(mergeItems([a, b], ['s0', 's1']))).toEqual({ X: 'b', P: 'pick-a' });
    expect(thrown(() => mergeItems([a, a], ['s0', 's1'])).reason).toBe('InvalidSpec');
  });
});
