import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { isSyncError } from '../errors.js';
import type { Reply } from './testing/fake-vault.js';
import { fakeVaultPerTest, rejection, type Harness } from './testing/testkit.js';

const vault = fakeVaultPerTest((f) => {
  f.put('secret/app/config', { password: 'p1' });
});
const setup = vault.setup;

async function readError(h: Harness, path = 'app/config', version?: number) {
  return rejection(h.reader.readKv({ identity: h.id(), mount: 'secret', path, ...(version ? { version } : {}) }));
}

describe('classification of read answers', () => {
  const cases: { name: string; reply: Reply; reason: string; status?: number; text?: string }[] = [
    {
      name: '500',
      reply: { status: 500, body: { errors: ['internal error'] } },
      reason: 'VaultUnavailable',
      status: 500,
    },
    {
      name: '503 sealed',
      reply: { status: 503, body: { errors: ['Vault is sealed'] } },
      reason: 'VaultUnavailable',
      status: 503,
      text: 'Vault is sealed',
    },
    {
      name: '429',
      reply: { status: 429, body: { errors: ['rate limited'] } },
      reason: 'VaultUnavailable',
      status: 429,
    },
    { name: 'garbage JSON', reply: { status: 200, raw: '{"data": {"data": ' }, reason: 'BadVaultData', status: 200 },
    { name: 'HTML', reply: { status: 200, raw: '<html>proxy</html>' }, reason: 'BadVaultData', status: 200 },
    {
      name: 'a KV v1 answer (no metadata)',
      reply: { status: 200, body: { data: { password: 'x' } } },
      reason: 'BadVaultData',
      text: 'KV version 2',
    },
    {
      name: 'data that is not an object',
      reply: { status: 200, body: { data: { data: ['x'], metadata: { version: 1 } } } },
      reason: 'BadVaultData',
    },
    { name: '405', reply: { status: 405, body: { errors: [] } }, reason: 'BadVaultData', status: 405 },
  ];
  for (const c of cases) {
    it(`maps ${c.name} to ${c.reason}`, async () => {
      vault.fake.onRead = () => c.reply;
      const err = await readError(setup());
      expect(isSyncError(err)).toBe(true);
      expect(err.reason).toBe(c.reason);
      if (c.status !== undefined) expect(err.status).toBe(c.status);
      if (c.text !== undefined) expect(err.message).toContain(c.text);
    });
  }

  it('maps 404 to VaultPathNotFound naming the path', async () => {
    const err = await readError(setup(), 'app/missing');
    expect(err).toMatchObject({ reason: 'VaultPathNotFound', status: 404 });
    expect(err.message).toContain('secret/app/missing');
  });

  it('says a deleted or destroyed version is deleted or destroyed', async () => {
    vault.fake.put('secret/app/config', { password: 'p2' });
    vault.fake.put('secret/app/config', { password: 'p3' });
    vault.fake.deleteVersion('secret/app/config', 2, 'deleted');
    vault.fake.deleteVersion('secret/app/config', 3, 'destroyed');
    const h = setup();
    const deleted = await readError(h, 'app/config', 2);
    expect(deleted).toMatchObject({ reason: 'VaultPathNotFound', status: 404 });
    expect(deleted.message).toContain('version 2 is deleted');
    const latest = await readError(h, 'app/config');
    expect(latest.message).toContain('version 3 is destroyed');
    const first = await h.reader.readKv({ identity: h.id(), mount: 'secret', path: 'app/config', version: 1 });
    expect(first).toEqual({
      data: { password: 'p1' },
      version: 1,
      createdTime: '2024-01-01T00:00:00.000Z',
      readAt: expect.any(Number) as number,
    });
    expect(vault.fake.reads.map((r) => r.version)).toEqual([2, undefined, 1]);
  });

  it('maps a refused connection to VaultUnavailable', async () => {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    await new Promise<void>((resolve) =>
      server.close(() => {
        resolve();
      }),
    );
    const h = setup({ config: { allowedAddresses: [`http://127.0.0.1:${port}`] } });
    const err = await rejection(
      h.reader.readKv({ identity: h.id({ address: `http://127.0.0.1:${port}/` }), mount: 'secret', path: 'a' }),
    );
    // The outage is this address's alone (normalized), not "Vault" for every tenant.
    expect(err).toMatchObject({
      reason: 'VaultUnavailable',
      status: undefined,
      dependency: `vault http://127.0.0.1:${port}`,
    });
    expect(err.message).toContain('ECONNREFUSED');
    expect(err.message).toContain(`http://127.0.0.1:${port}`);
  });
});

describe('classification of login answers', () => {
  for (const status of [400, 401, 403]) {
    it(`maps login ${status} to VaultAuthFailed naming role and mount`, async () => {
      vault.fake.onLogin = () => ({ status, body: { errors: ['invalid audience (aud) claim'] } });
      const h = setup();
      const err = await rejection(
        h.reader.readKv({ identity: h.id({ authMount: 'k8s/prod' }), mount: 'secret', path: 'app/config' }),
      );
      expect(err).toMatchObject({ reason: 'VaultAuthFailed', status });
      expect(err.message).toContain('role app-read');
      expect(err.message).toContain('auth/k8s/prod');
      expect(err.message).toContain('audience');
      expect(err.message).toContain('invalid audience (aud) claim');
      expect(vault.fake.logins[0]?.mount).toBe('k8s/prod');
      expect(vault.fake.reads).toHaveLength(0);
      expect(h.metrics.counts.logins.failure).toBe(1);
    });
  }

  it('maps login 500 to VaultUnavailable and a login without a token to BadVaultData', async () => {
    const h = setup();
    vault.fake.onLogin = () => ({ status: 500, body: { errors: [] } });
    expect(await readError(h)).toMatchObject({ reason: 'VaultUnavailable', status: 500 });
    vault.fake.onLogin = () => ({ status: 200, body: { auth: null } });
    expect(await readError(h)).toMatchObject({ reason: 'BadVaultData', status: 200 });
    vault.fake.onLogin = () => ({ status: 200, raw: 'not json' });
    expect(await readError(h)).toMatchObject({ reason: 'BadVaultData', status: 200 });
    expect(vault.fake.logins).toHaveLength(3);
  });
});

describe('secrets stay secret', () => {
  const SECRET = 'CANARY-secret-value-8f3a';
  const TOKEN = 'hvs.CANARY-token-51c2';
  const JWT = 'CANARY-jwt-77e1';

  it('never puts a secret value, token or JWT in an error, its cause, or a log entry', async () => {
    const errors: unknown[] = [];
    const used: Harness[] = [];
    const attempt = async (onLogin: typeof vault.fake.onLogin, onRead: typeof vault.fake.onRead) => {
      vault.fake.onLogin = onLogin;
      vault.fake.onRead = onRead;
      const h = setup({ config: { requestTimeoutMs: 300 } });
      h.tokens.request = () => Promise.resolve({ token: JWT, expiresAt: 0 });
      used.push(h);
      try {
        await h.reader.readKv({ identity: h.id(), mount: 'secret', path: 'app/config' });
      } catch (err) {
        errors.push(err);
      }
    };
    const goodLogin = () => ({ status: 200, body: { auth: { client_token: TOKEN, lease_duration: 60 } } });
    // What a proxy in front of Vault could echo back: only what it was sent.
    const echo = { errors: [`bad token ${TOKEN}`] };
    await attempt(() => ({ status: 400, body: { errors: [`bad jwt ${JWT}`] } }), undefined);
    await attempt(goodLogin, () => ({ status: 403, body: echo }));
    await attempt(goodLogin, () => ({ status: 500, body: echo }));
    // Secret data in answers that are not valid KV v2.
    await attempt(goodLogin, () => ({ status: 200, raw: `{"data":{"data":{"k":"${SECRET}"` }));
    await attempt(goodLogin, () => ({
      status: 200,
      body: { data: { data: { k: SECRET }, metadata: { version: 0 } } },
    }));
    await attempt(goodLogin, () => ({ status: 200, body: { data: { data: { k: SECRET } } } }));
    await attempt(goodLogin, () => ({ status: 200, body: { data: { k: SECRET }, auth: TOKEN } }));
    await attempt(goodLogin, () => ({ status: 404, body: { data: { data: { k: SECRET } }, errors: [] } }));
    await attempt(goodLogin, () => ({ status: 200, delayMs: 1000, body: { data: { data: { k: SECRET } } } }));
    // And a read that works, which logs too.
    await attempt(goodLogin, () => ({
      status: 200,
      body: { data: { data: { k: SECRET }, metadata: { version: 1 } } },
    }));
    expect(errors).toHaveLength(used.length - 1);
    const dump = (value: unknown): string => {
      const seen = new Set<unknown>();
      const walk = (v: unknown): string => {
        if (v === null || typeof v !== 'object' || seen.has(v)) return String(v);
        seen.add(v);
        const props = Object.getOwnPropertyNames(v).map((k) => `${k}=${walk((v as Record<string, unknown>)[k])}`);
        return `{${props.join(',')}}`;
      };
      return walk(value);
    };
    const text = dump(errors) + dump(used.flatMap((u) => u.logger.entries));
    for (const canary of [SECRET, TOKEN, JWT]) expect(text).not.toContain(canary);
    // The canaries did reach the fake, so their absence above means something.
    expect(JSON.stringify(vault.fake.logins)).toContain(JWT);
    expect(vault.fake.reads.some((r) => r.token === TOKEN)).toBe(true);
    expect(text).toContain('[redacted]');
  }, 10_000);
});
