import { beforeEach, describe, expect, it } from 'vitest';
import { identityKey, readGroupKey } from './identity.js';
import { kvDataPath } from './kv.js';
import { fakeVaultPerTest, makeIdentity, rejection, type Harness } from './testing/testkit.js';
import { NON_EXPIRING_TOKEN_CACHE_MS, tokenCacheMs } from './tokens.js';

describe('kvDataPath', () => {
  it('encodes each segment and keeps the slashes between them', () => {
    expect(kvDataPath({ mount: 'secret', path: 'my app/a?b#c%d' })).toBe('secret/data/my%20app/a%3Fb%23c%25d');
    expect(kvDataPath({ mount: 'team/kv', path: 'x', version: 3 })).toBe('team/kv/data/x?version=3');
  });

  for (const path of ['../sys/raw', 'a/./b', 'a//b', 'a/..', '']) {
    it(`refuses the path "${path}" as InvalidSpec`, () => {
      expect(() => kvDataPath({ mount: 'secret', path })).toThrow(expect.objectContaining({ reason: 'InvalidSpec' }));
    });
  }

  it('refuses a version that is not a positive integer', () => {
    for (const version of [0, -1, 1.5, Number.NaN]) {
      expect(() => kvDataPath({ mount: 'secret', path: 'a', version })).toThrow(
        expect.objectContaining({ reason: 'InvalidSpec' }),
      );
    }
  });
});

describe('tokenCacheMs', () => {
  it('uses a token until 30 s before its end, at most 90 % and at least half of its TTL', () => {
    expect(tokenCacheMs(3600)).toBe(3_240_000); // 90 %
    expect(tokenCacheMs(600)).toBe(540_000); // 90 % (570 s would be TTL - 30 s)
    expect(tokenCacheMs(120)).toBe(90_000); // TTL - 30 s
    expect(tokenCacheMs(40)).toBe(20_000); // half
    expect(tokenCacheMs(0)).toBe(NON_EXPIRING_TOKEN_CACHE_MS);
  });
});

describe('identityKey', () => {
  const base = makeIdentity('https://vault:8200');
  it('is stable and ignores audience order and a trailing slash on the address', () => {
    expect(identityKey({ ...base, audiences: ['a', 'b'] })).toBe(
      identityKey({ ...base, address: 'https://vault:8200/', audiences: ['b', 'a'] }),
    );
  });
  it('differs for every part of the identity', () => {
    const variants = [
      base,
      { ...base, address: 'https://other:8200' },
      { ...base, vaultNamespace: 'ns' },
      { ...base, caBundle: 'pem' },
      { ...base, authMount: 'k8s' },
      { ...base, role: 'other' },
      { ...base, serviceAccount: { namespace: 'team-a', name: 'other' } },
      { ...base, serviceAccount: { namespace: 'other', name: 'app' } },
      { ...base, serviceAccount: 'controller' as const },
      { ...base, audiences: ['other'] },
    ];
    expect(new Set(variants.map(identityKey)).size).toBe(variants.length);
  });
  it('does not contain the CA bundle itself', () => {
    expect(identityKey({ ...base, caBundle: '-----BEGIN CERTIFICATE-----MIIB' })).not.toContain('MIIB');
  });
  it('is the identity part of the read-group key, which also separates paths and versions', () => {
    const g = readGroupKey(base, { mount: 'secret', path: 'p' });
    expect(readGroupKey({ ...base, address: 'https://vault:8200/' }, { mount: 'secret', path: 'p' })).toBe(g);
    expect(readGroupKey(base, { mount: 'secret', path: 'p', version: 3 })).not.toBe(g);
    expect(readGroupKey(base, { mount: 'secret', path: 'q' })).not.toBe(g);
    expect(readGroupKey({ ...base, caBundle: 'pem' }, { mount: 'secret', path: 'p' })).not.toBe(g);
    expect((JSON.parse(g) as unknown[])[0]).toBe(identityKey(base));
  });
});

describe('KV v2 reads at the HTTP level', () => {
  const vault = fakeVaultPerTest(() => undefined);
  let h: Harness;
  beforeEach(() => {
    h = vault.setup();
  });

  it('sends encoded segments that Vault decodes back to the path, with the token', async () => {
    vault.fake.put('team/kv/my app/a?b#c', { k: 'v' });
    const secret = await h.reader.readKv({ identity: h.id(), mount: 'team/kv', path: 'my app/a?b#c' });
    expect(secret).toEqual({
      data: { k: 'v' },
      version: 1,
      createdTime: '2024-01-01T00:00:00.000Z',
      readAt: expect.any(Number) as number,
    });
    expect(vault.fake.requests[1]?.url).toBe('/v1/team/kv/data/my%20app/a%3Fb%23c');
    expect(vault.fake.reads[0]).toMatchObject({
      mount: 'team/kv',
      path: 'my app/a?b#c',
      token: vault.fake.issuedToken(1),
    });
  });

  it('refuses a traversing path before it talks to Vault', async () => {
    const err = await rejection(h.reader.readKv({ identity: h.id(), mount: 'secret', path: 'a/../../sys/raw' }));
    expect(err).toMatchObject({ reason: 'InvalidSpec', terminal: true });
    expect(vault.fake.requests).toHaveLength(0);
  });

  it('refuses a pinned-version answer for another version as BadVaultData', async () => {
    vault.fake.onRead = () => ({ status: 200, body: { data: { data: { k: 'v' }, metadata: { version: 7 } } } });
    const err = await rejection(h.reader.readKv({ identity: h.id(), mount: 'secret', path: 'a', version: 2 }));
    expect(err).toMatchObject({ reason: 'BadVaultData' });
  });
});
