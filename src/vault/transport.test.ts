import { createServer, type Server } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { AllowedAddresses } from './address.js';
import { ConnectionPool, MAX_RESPONSE_BYTES } from './connection.js';
import { MAX_KV_DEPTH, MAX_KV_VALUES } from './kv.js';
import { FakeVaultServer } from './testing/fake-vault.js';
import { fakeVaultPerTest, makeIdentity, rejection } from './testing/testkit.js';

/*
 * The transport of every Vault request, at the HTTP level: what a hostile server at spec.vault.address
 * (or a Vault that redirects) can and cannot make the controller do.
 */

const vault = fakeVaultPerTest((f) => {
  f.put('secret/app/config', { password: 'p1' });
});

/** A second server: where a redirect points. It must receive nothing unless allowed. */
let other: FakeVaultServer;
/** A bare TCP listener that counts connections (a proxy, a scheme-switched target). */
let listener: Server;
let listenerAccepts = 0;
let listenerUrl = '';

beforeEach(async () => {
  other = await new FakeVaultServer().start();
  other.put('secret/app/config', { password: 'from-other' });
  listenerAccepts = 0;
  listener = createServer((socket) => {
    listenerAccepts += 1;
    socket.destroy();
  });
  await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
  listenerUrl = `127.0.0.1:${(listener.address() as AddressInfo).port}`;
});

afterEach(async () => {
  vi.unstubAllEnvs();
  await other.close();
  await new Promise<void>((resolve) => listener.close(() => resolve()));
});

const read = (h: ReturnType<typeof vault.setup>, signal?: AbortSignal) =>
  h.reader.readKv({ identity: h.id(), mount: 'secret', path: 'app/config' }, signal);

const redirectTo = (base: string) => (req: { url?: string }) => ({
  status: 307,
  headers: { location: `${base}${req.url ?? ''}` },
});

describe('redirects', () => {
  it('does not follow a redirect of the login POST to an address the operator did not allow: it gets no JWT', async () => {
    vault.fake.onRaw = (req, res) => {
      if (req.method !== 'POST') return false;
      res.writeHead(307, { location: `${other.url}${req.url}` }).end();
      return true;
    };
    const h = vault.setup();
    const err = await rejection(read(h));
    expect(err).toMatchObject({ reason: 'VaultRedirectRefused', terminal: false });
    expect(err.message).toContain('answered HTTP 307, a redirect to an address not in --vault-allowed-addresses');
    expect(err.message).not.toContain(other.url); // the server chose the target: it is never quoted
    expect(other.accepted).toBe(0);
    expect(other.requests).toEqual([]);
  });

  it('does not follow a redirect of a read to an address not allowed: it gets no X-Vault-Token', async () => {
    vault.fake.onRead = () => redirectTo(other.url)({ url: '/v1/secret/data/app/config' });
    const h = vault.setup();
    const err = await rejection(read(h));
    expect(err).toMatchObject({ reason: 'VaultRedirectRefused' });
    expect(vault.fake.logins).toHaveLength(1);
    expect(other.accepted).toBe(0);
  });

  it('follows a 307 to an allowed address with the same scheme, keeping method, body and token', async () => {
    vault.fake.onRaw = (req, res) => {
      res.writeHead(307, { location: `${other.url}${req.url}` }).end();
      return true;
    };
    const h = vault.setup({ config: { allowedAddresses: [vault.fake.url, other.url] } });
    expect((await read(h)).data).toEqual({ password: 'from-other' });
    expect(other.logins).toEqual([{ mount: 'kubernetes', role: 'app-read', jwt: 'jwt-team-a-app-1' }]);
    expect(other.reads[0]?.token).toBe(other.issuedToken(1));
  });

  it('refuses a redirect that switches scheme, even to an allowed host and port: no connection is made', async () => {
    const https = `https://${listenerUrl}`;
    vault.fake.onRead = () => ({ status: 307, headers: { location: `${https}/v1/secret/data/app/config` } });
    const h = vault.setup({ config: { allowedAddresses: [vault.fake.url, https] } });
    const err = await rejection(read(h));
    expect(err).toMatchObject({ reason: 'VaultRedirectRefused' });
    expect(err.message).toContain('a redirect from http to another scheme');
    expect(listenerAccepts).toBe(0);
  });

  it('follows at most 2 redirects', async () => {
    vault.fake.onRead = () => redirectTo(vault.fake.url)({ url: '/v1/secret/data/app/config' });
    const h = vault.setup();
    const err = await rejection(read(h));
    expect(err).toMatchObject({ reason: 'VaultRedirectRefused' });
    expect(err.message).toContain('after 2 redirects already');
    expect(vault.fake.reads).toHaveLength(3);
  });

  it.each([301, 302, 303])('does not follow a %i, which may turn the request into another', async (status) => {
    vault.fake.onRead = () => ({ status, headers: { location: `${vault.fake.url}/v1/secret/data/app/config` } });
    const h = vault.setup();
    const err = await rejection(read(h));
    expect(err).toMatchObject({ reason: 'VaultRedirectRefused' });
    expect(err.message).toContain(`answered HTTP ${status}`);
    expect(vault.fake.reads).toHaveLength(1);
  });

  it('refuses a first request to an address not allowed without connecting (defence in depth)', async () => {
    const h = vault.setup();
    const err = await rejection(
      h.reader.readKv({ identity: h.id({ address: `http://${listenerUrl}` }), mount: 'secret', path: 'app/config' }),
    );
    expect(err).toMatchObject({ reason: 'VaultAddressNotAllowed', terminal: true });
    expect(listenerAccepts).toBe(0);
  });
});

describe('one deadline per request', () => {
  /** Headers at once, then one byte every `everyMs`, forever. */
  const trickle = (everyMs: number) => {
    vault.fake.onRaw = (req, res) => {
      if (req.method !== 'GET') return false;
      res.writeHead(200, { 'content-type': 'application/json' });
      const timer = setInterval(() => res.write(' '), everyMs);
      res.on('close', () => clearInterval(timer));
      return true;
    };
  };

  it('ends a server that sends headers and then a byte at a time at --vault-timeout, and closes the socket', async () => {
    trickle(100);
    const h = vault.setup({ config: { requestTimeoutMs: 600 } });
    await read(h).catch(() => undefined); // warm: the login
    const t0 = Date.now();
    const err = await rejection(
      h.reader.readKv({ identity: h.id(), mount: 'secret', path: 'app/config', fresh: true }),
    );
    const took = Date.now() - t0;
    expect(err).toMatchObject({ reason: 'VaultUnavailable' });
    expect(err.message).toContain('ETIMEDOUT');
    expect(took).toBeGreaterThanOrEqual(550);
    expect(took).toBeLessThan(1500);
    await vi.waitFor(() => expect(vault.fake.closed).toBe(vault.fake.accepted), { timeout: 1000 });
  });

  it('counts connect, headers and body together, not each on its own', async () => {
    // Headers after 300 ms, then the body slowly: each phase is under the timeout, the whole is not.
    vault.fake.onRaw = (req, res) => {
      if (req.method !== 'GET') return false;
      setTimeout(() => {
        res.writeHead(200, { 'content-type': 'application/json' });
        setTimeout(() => res.end('{}'), 400);
      }, 300);
      return true;
    };
    const h = vault.setup({ config: { requestTimeoutMs: 500 } });
    const err = await rejection(read(h));
    expect(err.message).toContain('ETIMEDOUT');
  });

  it('destroys the socket when the reconcile is cancelled', async () => {
    trickle(100);
    const h = vault.setup({ config: { requestTimeoutMs: 60_000 } });
    const ac = new AbortController();
    const reason = new Error('cancelled by the test');
    setTimeout(() => ac.abort(reason), 300);
    const t0 = Date.now();
    await expect(read(h, ac.signal)).rejects.toBe(reason);
    expect(Date.now() - t0).toBeLessThan(1000);
    await vi.waitFor(() => expect(vault.fake.closed).toBe(vault.fake.accepted), { timeout: 1000 });
  });
});

describe('the response bound, on the decoded stream', () => {
  it('refuses any Content-Encoding instead of inflating it', async () => {
    vault.fake.onRead = () => ({ status: 200, raw: '{}', headers: { 'content-encoding': 'br' } });
    const err = await rejection(read(vault.setup()));
    expect(err).toMatchObject({ reason: 'BadVaultData' });
    expect(err.message).toContain('compressed (br)');
  });

  it('refuses a chunked answer over the bound as it arrives', async () => {
    vault.fake.onRaw = (req, res) => {
      if (req.method !== 'GET') return false;
      res.writeHead(200, { 'content-type': 'application/json' });
      const chunk = 'x'.repeat(64 * 1024);
      const timer = setInterval(() => res.write(chunk), 1);
      res.on('close', () => clearInterval(timer));
      return true;
    };
    const err = await rejection(read(vault.setup()));
    expect(err).toMatchObject({ reason: 'BadVaultData' });
    expect(err.message).toContain(`over ${MAX_RESPONSE_BYTES} bytes`);
  });

  it('shares one frozen copy of a small answer that parses into a large graph, and bounds it', async () => {
    const kv = (data: string) =>
      `{"data":{"data":${data},"metadata":{"version":1,"created_time":"","deletion_time":"","destroyed":false}}}`;
    // Deeper than any secret: refused, whatever the nesting (no stack overflow either).
    const deep = `{"a":${'['.repeat(100_000)}${']'.repeat(100_000)}}`;
    vault.fake.onRead = () => ({ status: 200, raw: kv(deep) });
    const h = vault.setup({ config: { readCacheTtlMs: 0 } });
    const err = await rejection(read(h));
    expect(err.message).toContain(`nested deeper than ${MAX_KV_DEPTH} levels`);
    // A million empty arrays in under 4 MiB: refused too.
    const many = `{"a":[${Array.from({ length: 1_000_000 }, () => '[]').join(',')}]}`;
    expect(many.length).toBeLessThan(MAX_RESPONSE_BYTES);
    vault.fake.onRead = () => ({ status: 200, raw: kv(many) });
    expect((await rejection(read(h))).message).toContain(`more than ${MAX_KV_VALUES} values`);
  });
});

describe('no environment', () => {
  it('reads no VAULT_* or proxy variables: the URL, headers and peer are only what the identity says', async () => {
    const proxy = `http://${listenerUrl}`;
    for (const [name, value] of Object.entries({
      VAULT_ADDR: proxy,
      VAULT_TOKEN: 'env-token-canary',
      VAULT_NAMESPACE: 'env-namespace',
      VAULT_PREFIX: '/env-prefix',
      VAULT_SKIP_VERIFY: '1',
      HTTP_PROXY: proxy,
      HTTPS_PROXY: proxy,
      http_proxy: proxy,
      https_proxy: proxy,
      ALL_PROXY: proxy,
      NO_PROXY: 'nothing.example',
    }))
      vi.stubEnv(name, value);
    const h = vault.setup();
    expect((await read(h)).data).toEqual({ password: 'p1' });
    expect(listenerAccepts).toBe(0);
    expect(vault.fake.requests.map((r) => [r.method, r.url])).toEqual([
      ['POST', '/v1/auth/kubernetes/login'],
      ['GET', '/v1/secret/data/app/config'],
    ]);
    for (const r of vault.fake.requests) {
      expect(r.headers['x-vault-namespace']).toBeUndefined();
      expect(r.headers['x-vault-token']).not.toBe('env-token-canary');
    }
    expect(vault.fake.requests[0]?.headers['x-vault-token']).toBeUndefined();
  });
});

describe('the connection pool', () => {
  it("never closes a connection with a request in flight, so one tenant's new addresses cannot reset another's", async () => {
    const allowed = new AllowedAddresses([vault.fake.url]);
    const pool = new ConnectionPool({ timeoutMs: 5000, allowed }, 2);
    try {
      vault.fake.onRaw = (req, res) => {
        if (!(req.url ?? '').includes('slow')) return false;
        setTimeout(() => res.writeHead(200, { 'content-type': 'application/json' }).end('{"slow":true}'), 300);
        return true;
      };
      const victim = makeIdentity(vault.fake.url);
      const slow = pool.send(victim, { method: 'GET', path: 'secret/data/slow' });
      // Another tenant churns through ten connections (a Vault namespace each: ten pool keys).
      for (let i = 0; i < 10; i++) {
        const res = await pool.send(makeIdentity(vault.fake.url, { vaultNamespace: `churn-${i}` }), {
          method: 'GET',
          path: 'secret/data/nothing',
        });
        expect(res.status).toBe(403); // no token: an answer all the same
      }
      expect(await slow).toEqual({ status: 200, body: { slow: true } });
      // Idle connections beyond the bound were closed: the pool stays bounded.
      await pool.send(makeIdentity(vault.fake.url), { method: 'GET', path: 'secret/data/nothing' });
      expect(pool.size).toBeLessThanOrEqual(2);
    } finally {
      pool.close();
    }
  });
});
