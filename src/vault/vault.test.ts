import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { FakeVaultServer } from './testing/fake-vault.js';
import { fakeVaultPerTest, rejection } from './testing/testkit.js';

const vault = fakeVaultPerTest((f) => {
  f.put('secret/app/config', { password: 'p1' });
});
const setup = vault.setup;

afterEach(() => {
  vi.unstubAllEnvs();
});

describe('Kubernetes-auth login and token cache', () => {
  it('logs in once per identity for 50 concurrent reads of different paths', async () => {
    for (let i = 0; i < 50; i++) vault.fake.put(`secret/app/${i}`, { n: i });
    const h = setup();
    const id = h.id();
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) => h.reader.readKv({ identity: id, mount: 'secret', path: `app/${i}` })),
    );
    expect(results.map((r) => r.data.n)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect(vault.fake.logins).toHaveLength(1);
    expect(vault.fake.logins[0]).toEqual({ mount: 'kubernetes', role: 'app-read', jwt: 'jwt-team-a-app-1' });
    expect(vault.fake.reads).toHaveLength(50);
    expect(h.tokens.calls).toEqual([{ sa: { namespace: 'team-a', name: 'app' }, audiences: ['vault'] }]);
    expect(h.metrics.counts.logins.success).toBe(1);
  });

  it('logs in separately for two identities and presents each its own token', async () => {
    const h = setup();
    const a = h.id();
    const b = h.id({ serviceAccount: { namespace: 'team-b', name: 'app' }, role: 'b-read' });
    await Promise.all([
      h.reader.readKv({ identity: a, mount: 'secret', path: 'app/config' }),
      h.reader.readKv({ identity: b, mount: 'secret', path: 'app/config' }),
    ]);
    expect(vault.fake.logins.map((l) => l.role).sort()).toEqual(['app-read', 'b-read']);
    expect(vault.fake.reads.map((r) => r.role).sort()).toEqual(['app-read', 'b-read']);
  });

  it('drops a token Vault rejects, logs in again and retries the read once', async () => {
    vault.fake.put('secret/other', { x: 1 });
    const h = setup();
    const id = h.id();
    await h.reader.readKv({ identity: id, mount: 'secret', path: 'app/config' });
    vault.fake.revokeAll();
    const secret = await h.reader.readKv({ identity: id, mount: 'secret', path: 'other' });
    expect(secret.data).toEqual({ x: 1 });
    expect(vault.fake.logins).toHaveLength(2);
    expect(vault.fake.reads.map((r) => r.role)).toEqual(['app-read', undefined, 'app-read']);
    expect(vault.fake.reads[1]?.token).toBe(vault.fake.issuedToken(1));
    expect(vault.fake.reads[2]?.token).toBe(vault.fake.issuedToken(2));
  });

  it('re-logs in once, not once per read, when many reads see the same revoked token', async () => {
    for (let i = 0; i < 20; i++) vault.fake.put(`secret/app/${i}`, { n: i });
    const h = setup();
    const id = h.id();
    await h.reader.readKv({ identity: id, mount: 'secret', path: 'app/config' });
    vault.fake.revokeAll();
    await Promise.all(
      Array.from({ length: 20 }, (_, i) => h.reader.readKv({ identity: id, mount: 'secret', path: `app/${i}` })),
    );
    expect(vault.fake.logins).toHaveLength(2);
  });

  it('reports VaultForbidden when the read is refused again after a fresh login', async () => {
    vault.fake.forbiddenReads.add('app-read secret/app/config');
    const h = setup();
    const err = await rejection(h.reader.readKv({ identity: h.id(), mount: 'secret', path: 'app/config' }));
    expect(err).toMatchObject({ reason: 'VaultForbidden', status: 403 });
    expect(err.message).toContain('secret/app/config');
    expect(err.message).toContain('role app-read');
    expect(err.message).toContain("check the role's policy");
    expect(vault.fake.logins).toHaveLength(2);
    expect(vault.fake.reads).toHaveLength(2);
  });

  it('logs in again once the token nears the end of its TTL', async () => {
    vault.fake.ttlSeconds = 60; // used for 30 s (60 s minus 30 s), see tokenCacheMs
    const h = setup({ config: { readCacheTtlMs: 0 } });
    const read = () => h.reader.readKv({ identity: h.id(), mount: 'secret', path: 'app/config' });
    await read();
    h.clock.advance(29_000);
    await read();
    expect(vault.fake.logins).toHaveLength(1);
    h.clock.advance(2_000);
    await read();
    expect(vault.fake.logins).toHaveLength(2);
    expect(vault.fake.reads.map((r) => r.token)).toEqual([
      vault.fake.issuedToken(1),
      vault.fake.issuedToken(1),
      vault.fake.issuedToken(2),
    ]);
  });

  it('keeps a non-expiring (TTL 0) token for a bounded time only', async () => {
    vault.fake.ttlSeconds = 0;
    const h = setup({ config: { readCacheTtlMs: 0 } });
    const read = () => h.reader.readKv({ identity: h.id(), mount: 'secret', path: 'app/config' });
    await read();
    h.clock.advance(59 * 60_000);
    await read();
    expect(vault.fake.logins).toHaveLength(1);
    h.clock.advance(2 * 60_000);
    await read();
    expect(vault.fake.logins).toHaveLength(2);
  });

  it("re-reads the controller's token file at each login", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vaultsync-'));
    const tokenPath = join(dir, 'token');
    try {
      writeFileSync(tokenPath, 'controller-jwt-one\n');
      const h = setup({ config: { tokenPath, readCacheTtlMs: 0 }, readFile: (p) => readFile(p, 'utf8') });
      const id = h.id({ serviceAccount: 'controller', role: 'controller-role' });
      await h.reader.readKv({ identity: id, mount: 'secret', path: 'app/config' });
      writeFileSync(tokenPath, 'controller-jwt-two\n');
      vault.fake.revokeAll();
      await h.reader.readKv({ identity: id, mount: 'secret', path: 'app/config' });
      expect(vault.fake.logins.map((l) => l.jwt)).toEqual(['controller-jwt-one', 'controller-jwt-two']);
      expect(h.tokens.calls).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true });
    }
  });

  it("fails with ServiceAccountTokenFailed when the controller's token file is missing", async () => {
    const h = setup({ config: { tokenPath: '/nonexistent/token' } });
    const err = await rejection(
      h.reader.readKv({ identity: h.id({ serviceAccount: 'controller' }), mount: 'secret', path: 'app/config' }),
    );
    expect(err).toMatchObject({ reason: 'ServiceAccountTokenFailed' });
    expect(err.message).toContain('/nonexistent/token');
    expect(vault.fake.logins).toHaveLength(0);
  });
});

describe('connection settings', () => {
  it('sends X-Vault-Namespace on logins and reads, and only the identity says so', async () => {
    vi.stubEnv('VAULT_NAMESPACE', 'from-env');
    vi.stubEnv('VAULT_TOKEN', 'env-token');
    const h = setup();
    await h.reader.readKv({ identity: h.id({ vaultNamespace: 'team-a/ns' }), mount: 'secret', path: 'app/config' });
    await h.reader.readKv({ identity: h.id(), mount: 'secret', path: 'app/config' });
    const seen = vault.fake.requests.map((r) => [r.method, r.headers['x-vault-namespace']]);
    expect(seen).toEqual([
      ['POST', 'team-a/ns'],
      ['GET', 'team-a/ns'],
      ['POST', undefined],
      ['GET', undefined],
    ]);
    expect(vault.fake.requests.filter((r) => r.method === 'POST').map((r) => r.headers['x-vault-token'])).toEqual([
      undefined,
      undefined,
    ]);
  });

  it('times out a slow Vault as VaultUnavailable', async () => {
    vault.fake.delayMs = 500;
    const h = setup({ config: { requestTimeoutMs: 100 } });
    const err = await rejection(h.reader.readKv({ identity: h.id(), mount: 'secret', path: 'app/config' }));
    expect(err).toMatchObject({ reason: 'VaultUnavailable' });
    expect(err.message).toContain('ETIMEDOUT');
    expect(h.metrics.counts.requests.get('login error')).toBe(1);
  });
});

describe('TLS with a custom CA bundle', () => {
  let dir: string;
  let tls: { key: string; cert: string } | undefined;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'vaultsync-tls-'));
    try {
      execFileSync(
        'openssl',
        ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1'].concat([
          '-addext',
          'subjectAltName=IP:127.0.0.1',
          '-keyout',
          join(dir, 'key.pem'),
          '-out',
          join(dir, 'cert.pem'),
        ]),
        { stdio: 'ignore' },
      );
      tls = { key: readFileSync(join(dir, 'key.pem'), 'utf8'), cert: readFileSync(join(dir, 'cert.pem'), 'utf8') };
    } catch (err) {
      console.warn('SKIPPING HTTPS TESTS: openssl could not make a certificate', err);
      tls = undefined;
    }
  });
  afterEach(() => {
    rmSync(dir, { recursive: true });
  });

  it('trusts Vault through the identity caBundle, and refuses it without', async (ctx) => {
    if (tls === undefined) {
      ctx.skip();
      return;
    }
    const secure = await new FakeVaultServer().start(tls);
    try {
      secure.put('secret/app/config', { password: 'tls' });
      const h = setup({ config: { allowedAddresses: [secure.url] } });
      const good = await h.reader.readKv({
        identity: { ...h.id(), address: secure.url, caBundle: tls.cert },
        mount: 'secret',
        path: 'app/config',
      });
      expect(good.data).toEqual({ password: 'tls' });

      const err = await rejection(
        h.reader.readKv({ identity: { ...h.id(), address: secure.url }, mount: 'secret', path: 'app/config' }),
      );
      expect(err).toMatchObject({ reason: 'VaultUnavailable' });
      expect(err.message).toContain('CA bundle');
      expect(secure.logins).toHaveLength(1);
    } finally {
      await secure.close();
    }
  });
});
