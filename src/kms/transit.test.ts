import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { tokenFileSource } from './auth-sources.js';
import { KmsError } from './errors.js';
import { FakeTransit } from './testing/fake-transit.js';
import { TokenManager } from './token-manager.js';
import { keyIdOf, parseKeyId, Transit, versionOf } from './transit.js';
import { silentLogger, systemTimers } from './types.js';
import { VaultHttp } from './vault-http.js';

let vault: FakeTransit;
let http: VaultHttp;
let files: Map<string, string>;
let transit: Transit;
const signal = () => AbortSignal.timeout(2_000);

beforeEach(async () => {
  vault = await FakeTransit.start();
  vault.tokens.set('tok-1', { ttl: 3600, renewable: true });
  files = new Map([['/token', 'tok-1\n']]);
  http = new VaultHttp({ address: vault.url });
  const source = tokenFileSource({
    file: '/token',
    readFile: (f) => Promise.resolve(files.get(f) ?? ''),
    vault: http,
  });
  const tokens = new TokenManager({
    source,
    vault: http,
    timers: systemTimers,
    log: silentLogger,
    backgroundTimeoutMs: 1_000,
  });
  transit = new Transit(http, tokens, { mount: 'transit', name: 'kms' });
});

afterEach(async () => {
  http.close();
  await vault.close();
});

describe('Transit', () => {
  it('encrypts with the latest key version and decrypts what it encrypted, after a rotation too', async () => {
    const dek = Buffer.from('0123456789abcdef0123456789abcdef');
    const v1 = await transit.encrypt(dek, signal());
    expect(v1.version).toBe(1);
    expect(v1.ciphertext).toMatch(/^vault:v1:/);
    expect(v1.ciphertext).not.toContain(dek.toString('base64'));
    vault.rotate();
    const v2 = await transit.encrypt(dek, signal());
    expect(v2.version).toBe(2);
    expect(Buffer.from(await transit.decrypt(v1.ciphertext, signal()))).toEqual(dek);
    expect(Buffer.from(await transit.decrypt(v2.ciphertext, signal()))).toEqual(dek);
  });

  it('on 403 drops the token, reads the file again and retries once', async () => {
    await transit.encrypt(Buffer.from('x'), signal());
    vault.tokens.delete('tok-1'); // revoked
    vault.tokens.set('tok-2', { ttl: 3600, renewable: true });
    files.set('/token', 'tok-2');
    await transit.encrypt(Buffer.from('x'), signal());
    expect(vault.requests.filter((r) => r.path === 'transit/encrypt/kms').map((r) => r.token)).toEqual([
      'tok-1',
      'tok-1',
      'tok-2',
    ]);
  });

  it('reports a policy that forbids Transit as VaultForbidden after one retry', async () => {
    vault.policyAllows = () => false;
    const err = await transit.encrypt(Buffer.from('x'), signal()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KmsError);
    expect((err as KmsError).reason).toBe('VaultForbidden');
    expect((err as KmsError).message).toContain('transit/encrypt/kms');
    expect(vault.count('transit/encrypt/kms')).toBe(2);
  });

  it('refuses tampered ciphertext (DecryptFailed) and what is not Transit ciphertext (InvalidRequest)', async () => {
    const { ciphertext } = await transit.encrypt(Buffer.from('secret-dek'), signal());
    const tampered = ciphertext.slice(0, -4) + (ciphertext.endsWith('AAAA') ? 'BBBB' : 'AAAA');
    await expect(transit.decrypt(tampered, signal())).rejects.toMatchObject({ reason: 'DecryptFailed' });
    await expect(transit.decrypt('k8s:enc:aescbc:v1:xyz', signal())).rejects.toMatchObject({
      reason: 'InvalidRequest',
    });
  });

  it('names a down Vault VaultUnavailable and a missing token file VaultAuthFailed', async () => {
    vault.failWith = 503;
    await expect(transit.encrypt(Buffer.from('x'), signal())).rejects.toMatchObject({ reason: 'VaultUnavailable' });
    vault.failWith = undefined;
    files.delete('/token');
    const fresh = new Transit(
      http,
      new TokenManager({
        source: tokenFileSource({
          file: '/token',
          readFile: () => Promise.reject(Object.assign(new Error('x'), { code: 'ENOENT' })),
          vault: http,
        }),
        vault: http,
        timers: systemTimers,
        log: silentLogger,
        backgroundTimeoutMs: 1_000,
      }),
      { mount: 'transit', name: 'kms' },
    );
    await expect(fresh.encrypt(Buffer.from('x'), signal())).rejects.toMatchObject({
      reason: 'VaultAuthFailed',
      message: expect.stringContaining('ENOENT') as unknown,
    });
  });
});

describe('key ids', () => {
  it('round-trip mount, key and version, and reject others', () => {
    const id = keyIdOf({ mount: 'kms/transit', name: 'cluster-a' }, 7);
    expect(id).toBe('vault-transit:kms/transit/cluster-a:v7');
    expect(parseKeyId(id)).toEqual({ mount: 'kms/transit', name: 'cluster-a', version: 7 });
    expect(parseKeyId('aws-kms:arn:...')).toBeUndefined();
    expect(versionOf('vault:v12:AAAA')).toBe(12);
    expect(versionOf('vault:vx:AAAA')).toBeUndefined();
  });
});
