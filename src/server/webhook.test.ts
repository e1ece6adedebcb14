import { mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { InjectOptions } from 'fastify';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { recordingLogger } from '../core/testing/logger.js';
import type { Key } from '../core/types.js';
import { createMetrics } from './metrics.js';
import { PathIndex } from './path-index.js';
import type { RefreshTarget } from './refresh.js';
import { buildServer, buildWebhookServer } from './server.js';
import { signGitHub, signRequest } from './signature.js';
import { createWebhook, type WebhookOptions } from './webhook.js';

// Keys of at least MIN_KEY_LENGTH (32) bytes.
const GLOBAL = 'global-key-0123456789abcdef-0123456789';
const TEAM_A = 'team-a-key-0123456789abcdef-0123456789';
const TEAM_B = 'team-b-key-0123456789abcdef-0123456789';
const NOW_S = 1_700_000_000;
const BODY = JSON.stringify({ paths: ['secret/myapp/config'] });

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'vaultsync-webhook-'));
  await writeFile(join(dir, 'key'), `${GLOBAL}\n`);
  await mkdir(join(dir, 'ns'));
  await writeFile(join(dir, 'ns', 'team-a'), TEAM_A);
  await writeFile(join(dir, 'ns', 'team-b'), `${TEAM_B}\n`);
  // What a Kubernetes Secret volume also holds: must not become keys.
  await mkdir(join(dir, 'ns', '..2024_01_01'));
  await writeFile(join(dir, 'ns', '..data'), 'not-a-namespace-key-0123456789');
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

interface Setup {
  over?: Partial<WebhookOptions>;
  pendingPush?: (key: Key) => boolean;
  accepting?: () => boolean;
  keys?: 'both' | 'global' | 'namespaces' | 'none';
}

function setup({ over = {}, pendingPush, accepting, keys = 'both' }: Setup = {}) {
  const clock = { t: NOW_S * 1000, now: () => clock.t };
  const index = new PathIndex();
  index.upsert('team-a/app', 'secret', 'myapp/config');
  index.upsert('team-b/app', 'secret', 'myapp/config');
  index.upsert('team-b/db', 'secret', 'myapp/db');
  index.upsert('team-a/kv', 'kv/team-a', 'app/config');
  const existing = new Set(['team-a/app', 'team-b/app', 'team-b/db', 'team-a/kv']);
  const pushes: Key[][] = [];
  const target: RefreshTarget = {
    exists: (k) => existing.has(k),
    push: (k) => pushes.push([...k]),
    ...(pendingPush ? { pendingPush } : {}),
    ...(accepting ? { accepting } : {}),
  };
  const metrics = createMetrics(undefined, { defaultMetrics: false });
  const log = recordingLogger();
  const webhook = createWebhook({
    keyFile: keys === 'both' || keys === 'global' ? join(dir, 'key') : undefined,
    namespaceKeysDir: keys === 'both' || keys === 'namespaces' ? join(dir, 'ns') : undefined,
    rateLimitPerMinute: 1000,
    coalesceWindowMs: 1000,
    index,
    target,
    metrics,
    clock,
    log,
    ...over,
  });
  const server = buildServer({
    registry: metrics.registry,
    health: () => ({ ok: true, problems: [] }),
    ready: () => true,
    webhook,
  });
  const metric = async (outcome: string) => {
    const text = await metrics.registry.metrics();
    const m = new RegExp(`^vaultsync_webhook_requests_total\\{outcome="${outcome}"\\} (\\d+)$`, 'm').exec(text);
    return Number(m?.[1]);
  };
  const queuedTotal = async () =>
    Number(/^vaultsync_webhook_queued_total (\d+)$/m.exec(await metrics.registry.metrics())?.[1]);
  return { server, clock, pushes, metric, queuedTotal, log, index };
}

/** A request signed with our scheme; `tamper` changes the body after signing. */
function signed(
  key: string,
  body = BODY,
  opts: { ts?: number; tamper?: (b: string) => string; remoteAddress?: string } = {},
): InjectOptions {
  const ts = String(opts.ts ?? NOW_S);
  return {
    method: 'POST',
    url: '/v1/refresh',
    remoteAddress: opts.remoteAddress,
    headers: {
      'content-type': 'application/json',
      'x-vaultsync-timestamp': ts,
      'x-vaultsync-signature': signRequest(Buffer.from(key), ts, body),
    },
    payload: opts.tamper ? opts.tamper(body) : body,
  };
}

function github(key: string, body: string, url: string, delivery = 'd-1', contentType = 'application/json') {
  return {
    method: 'POST' as const,
    url,
    headers: {
      'content-type': contentType,
      'x-github-event': 'push',
      'x-github-delivery': delivery,
      'x-hub-signature-256': signGitHub(Buffer.from(key), body),
    },
    payload: body,
  };
}

describe('POST /v1/refresh: accepted', () => {
  it('queues every SecretSync reading the path, at once, and answers only a count', async () => {
    const { server, pushes, metric, queuedTotal } = setup();
    const res = await server.inject(signed(GLOBAL));
    expect(res.statusCode).toBe(202);
    expect(res.body).toBe('{"queued":2}');
    expect(pushes).toEqual([['team-a/app', 'team-b/app']]);
    expect(await metric('accepted')).toBe(1);
    expect(await queuedTotal()).toBe(2);
  });

  it('takes SecretSyncs by name, KV v2 API paths and mounts with slashes; unknown names count 0', async () => {
    const { server, pushes } = setup();
    const body = JSON.stringify({
      paths: ['kv/team-a/data/app/config', 'secret/nothing/here'],
      secretSyncs: ['team-b/db', 'team-c/ghost'],
    });
    const res = await server.inject(signed(GLOBAL, body));
    expect(res.json()).toEqual({ queued: 2 });
    expect(pushes).toEqual([['team-a/kv', 'team-b/db']]);
  });

  it('verifies the bytes as sent, not a re-serialisation of them', async () => {
    const { server, pushes } = setup();
    const pretty = '{\n  "paths": [ "secret/myapp/config" ]\n}\n';
    expect((await server.inject(signed(GLOBAL, pretty))).json()).toEqual({ queued: 2 });
    expect(pushes).toHaveLength(1);
  });

  it('accepts a timestamp at the edge of the allowed skew', async () => {
    const { server } = setup();
    expect((await server.inject(signed(GLOBAL, BODY, { ts: NOW_S - 300 }))).statusCode).toBe(202);
    expect((await server.inject(signed(GLOBAL, BODY, { ts: NOW_S + 300 }))).statusCode).toBe(202);
  });

  it('accepts a request matching nothing with 202 and 0, pushing nothing', async () => {
    const { server, pushes } = setup();
    const res = await server.inject(signed(GLOBAL, JSON.stringify({ paths: ['secret/unknown/path'] })));
    expect(res.statusCode).toBe(202);
    expect(res.json()).toEqual({ queued: 0 });
    expect(pushes).toEqual([]);
  });
});

describe('POST /v1/refresh: unauthorized', () => {
  const cases: [string, (r: InjectOptions) => InjectOptions][] = [
    ['no headers at all', (r) => ({ ...r, headers: { 'content-type': 'application/json' } })],
    ['signature without timestamp', (r) => ({ ...r, headers: omit(r, 'x-vaultsync-timestamp') })],
    ['timestamp that is not a number', (r) => ({ ...r, headers: { ...r.headers, 'x-vaultsync-timestamp': 'now' } })],
    ['signature in another form', (r) => ({ ...r, headers: { ...r.headers, 'x-vaultsync-signature': 'abc' } })],
    [
      'signature for another timestamp',
      (r) => ({ ...r, headers: { ...r.headers, 'x-vaultsync-timestamp': String(NOW_S - 1) } }),
    ],
  ];
  it.each(cases)('%s → 401, nothing queued', async (_name, change) => {
    const { server, pushes, metric } = setup();
    const res = await server.inject(change(signed(GLOBAL)));
    expect(res.statusCode).toBe(401);
    expect(pushes).toEqual([]);
    expect(await metric('unauthorized')).toBe(1);
    expect(await metric('accepted')).toBe(0);
  });

  it.each([
    ['the wrong key', signed('some-other-key-0123456789')],
    ['a stale timestamp (more than 5 minutes old)', signed(GLOBAL, BODY, { ts: NOW_S - 301 })],
    ['a future timestamp', signed(GLOBAL, BODY, { ts: NOW_S + 301 })],
    ['a body changed after signing', signed(GLOBAL, BODY, { tamper: (b) => b.replace('myapp', 'other') })],
    [
      'an extra path added after signing',
      signed(GLOBAL, BODY, { tamper: () => JSON.stringify({ paths: ['secret/myapp/config', 'secret/myapp/db'] }) }),
    ],
    ['a key shorter than 32 bytes', signed('short')],
  ])('%s → 401, nothing queued', async (_name, request) => {
    const { server, pushes } = setup();
    const res = await server.inject(request);
    expect(res.statusCode).toBe(401);
    expect(pushes).toEqual([]);
  });

  it('says why without echoing the request', async () => {
    const { server } = setup();
    const res = await server.inject(signed(GLOBAL, BODY, { ts: NOW_S - 3600 }));
    expect(res.json()).toEqual({ error: "x-vaultsync-timestamp is more than 300s from the server's clock" });
  });

  it('refuses a signature header sent twice', async () => {
    const { server, pushes } = setup();
    const r = signed(GLOBAL);
    const sig = (r.headers as Record<string, string>)['x-vaultsync-signature']!;
    const res = await server.inject({ ...r, headers: { ...r.headers, 'x-vaultsync-signature': [sig, sig] } });
    expect(res.statusCode).toBe(401);
    expect(pushes).toEqual([]);
  });

  it('fails closed on a key file that vanished, rather than keeping the old key', async () => {
    const { server, clock, pushes } = setup({ keys: 'global' });
    expect((await server.inject(signed(GLOBAL))).statusCode).toBe(202);
    await rm(join(dir, 'key'));
    clock.t += 2_000;
    const res = await server.inject(signed(GLOBAL, BODY, { ts: NOW_S + 2 }));
    expect(res.statusCode).toBe(503);
    expect(pushes).toHaveLength(1);
  });
});

describe('GitHub webhooks (X-Hub-Signature-256)', () => {
  const payload = JSON.stringify({ ref: 'refs/heads/main', after: 'abc123', repository: { full_name: 'o/r' } });
  const url = '/v1/refresh?path=secret/myapp/config&secretSync=team-b/db';

  it('takes targets from the webhook URL and refuses a replayed delivery', async () => {
    const { server, pushes, metric } = setup();
    const first = await server.inject(github(GLOBAL, payload, url));
    expect(first.statusCode).toBe(202);
    expect(first.json()).toEqual({ queued: 3 });
    expect(pushes).toEqual([['team-a/app', 'team-b/app', 'team-b/db']]);

    // The same signed delivery again, even under another (unsigned) delivery id.
    const again = await server.inject(github(GLOBAL, payload, url, 'd-2'));
    expect(again.statusCode).toBe(401);
    expect(again.json()).toEqual({ error: 'delivery already seen' });
    expect(pushes).toHaveLength(1);
    expect(await metric('unauthorized')).toBe(1);
  });

  it('refuses a delivery id seen before, even with another body and signature', async () => {
    const { server, clock, pushes, metric } = setup();
    expect((await server.inject(github(GLOBAL, payload, url, 'b1e2c3d4-0000-11ee-8000-000000000001'))).statusCode).toBe(
      202,
    );
    const other = JSON.stringify({ ref: 'refs/heads/other' });
    const again = await server.inject(github(GLOBAL, other, url, 'b1e2c3d4-0000-11ee-8000-000000000001'));
    expect(again.statusCode).toBe(401);
    expect(again.json()).toEqual({ error: 'delivery already seen' });
    expect(pushes).toHaveLength(1);
    expect(await metric('unauthorized')).toBe(1);
    // Remembered for the replay window (10 minutes), then forgotten.
    clock.t += 10 * 60_000;
    const third = JSON.stringify({ ref: 'refs/heads/third' });
    expect((await server.inject(github(GLOBAL, third, url, 'b1e2c3d4-0000-11ee-8000-000000000001'))).statusCode).toBe(
      202,
    );
  });

  it('does not let an unauthenticated request burn a delivery id', async () => {
    const { server } = setup();
    expect((await server.inject(github('some-other-key-0123456789abcdef-0123', payload, url, 'd-9'))).statusCode).toBe(
      401,
    );
    expect((await server.inject(github(GLOBAL, payload, url, 'd-9'))).statusCode).toBe(202);
  });

  it.each([
    ['too long', 'd'.repeat(129)],
    ['with a space', 'd 1'],
  ])('refuses a delivery id %s', async (_name, delivery) => {
    const { server, pushes } = setup();
    const res = await server.inject(github(GLOBAL, payload, url, delivery));
    expect(res.statusCode).toBe(401);
    expect(pushes).toEqual([]);
  });

  it('verifies the raw bytes of a form-encoded delivery', async () => {
    const { server, pushes } = setup();
    const form = `payload=${encodeURIComponent(payload)}`;
    const res = await server.inject(github(GLOBAL, form, url, 'd-3', 'application/x-www-form-urlencoded'));
    expect(res.statusCode).toBe(202);
    expect(pushes).toHaveLength(1);
  });

  it('takes a body of our shape when the URL names nothing', async () => {
    const { server, pushes } = setup();
    const res = await server.inject(github(GLOBAL, BODY, '/v1/refresh'));
    expect(res.json()).toEqual({ queued: 2 });
    expect(pushes).toHaveLength(1);
  });

  it.each([
    ['a wrong signature', () => github('some-other-key-0123456789', payload, url)],
    [
      'no delivery id',
      () => ({ ...github(GLOBAL, payload, url), headers: omit(github(GLOBAL, payload, url), 'x-github-delivery') }),
    ],
    ['a changed payload', () => ({ ...github(GLOBAL, payload, url), payload: payload.replace('main', 'evil') })],
  ])('refuses %s with 401', async (_name, request) => {
    const { server, pushes } = setup();
    expect((await server.inject(request())).statusCode).toBe(401);
    expect(pushes).toEqual([]);
  });

  it("answers 400 when GitHub's payload names no target", async () => {
    const { server, pushes } = setup();
    const res = await server.inject(github(GLOBAL, payload, '/v1/refresh'));
    expect(res.statusCode).toBe(400);
    expect(pushes).toEqual([]);
  });
});

describe('POST /v1/refresh: size, shape and rate', () => {
  it('refuses a body over 64 KiB with 413 before looking at the signature', async () => {
    const { server, pushes, metric } = setup();
    const big = JSON.stringify({ paths: ['secret/myapp/config'], pad: 'x'.repeat(64 * 1024) });
    const res = await server.inject(signed(GLOBAL, big));
    expect(res.statusCode).toBe(413);
    expect(pushes).toEqual([]);
    expect(await metric('too_large')).toBe(1);
    const unsigned = await server.inject({ method: 'POST', url: '/v1/refresh', payload: big });
    expect(unsigned.statusCode).toBe(413);
  });

  const tooMany = Array.from({ length: 101 }, (_, i) => `secret/app/${i}`);
  it.each([
    ['not JSON', '{"paths": ['],
    ['a JSON array', '["secret/myapp/config"]'],
    ['paths not an array', '{"paths": "secret/myapp/config"}'],
    ['a number among paths', '{"paths": [1]}'],
    ['an unknown field', '{"paths": ["secret/myapp/config"], "namespace": "team-a"}'],
    ['no target at all', '{"paths": [], "secretSyncs": []}'],
    ['101 targets', JSON.stringify({ paths: tooMany })],
    ['a path without a mount', '{"paths": ["config"]}'],
    ['a path with ..', '{"paths": ["secret/../other"]}'],
    ['a path with a control character', JSON.stringify({ paths: ['secret/my\napp'] })],
    ['a path of 513 characters', JSON.stringify({ paths: [`secret/${'a'.repeat(506)}`] })],
    ['a SecretSync without a namespace', '{"secretSyncs": ["app"]}'],
    ['a SecretSync with an upper-case name', '{"secretSyncs": ["team-a/App"]}'],
    ['an empty body', ''],
  ])('signed but %s → 400, nothing queued', async (_name, body) => {
    const { server, pushes, metric } = setup();
    const res = await server.inject(signed(GLOBAL, body));
    expect(res.statusCode).toBe(400);
    expect(typeof res.json<{ error: string }>().error).toBe('string');
    expect(pushes).toEqual([]);
    expect(await metric('bad_request')).toBe(1);
  });

  it('refuses unsigned query parameters alongside our signature', async () => {
    const { server, pushes } = setup();
    const res = await server.inject({ ...signed(GLOBAL), url: '/v1/refresh?path=secret/myapp/db' });
    expect(res.statusCode).toBe(400);
    expect(pushes).toEqual([]);
  });

  it('limits each client address, with Retry-After, and counts unsigned attempts too', async () => {
    const { server, clock, pushes, metric } = setup({ over: { rateLimitPerMinute: 2 } });
    expect((await server.inject({ method: 'POST', url: '/v1/refresh', payload: '{}' })).statusCode).toBe(401);
    expect((await server.inject(signed(GLOBAL))).statusCode).toBe(202);
    const limited = await server.inject(signed(GLOBAL));
    expect(limited.statusCode).toBe(429);
    expect(limited.headers['retry-after']).toBe('30');
    expect(pushes).toHaveLength(1);
    expect(await metric('rate_limited')).toBe(1);
    // Another address has its own budget.
    expect((await server.inject(signed(TEAM_A, BODY, { remoteAddress: '10.0.0.2' }))).statusCode).toBe(202);
    clock.t += 30_000;
    expect((await server.inject(signed(GLOBAL, BODY, { ts: NOW_S + 30 }))).statusCode).toBe(202);
  });

  it('limits each key across addresses', async () => {
    const { server, pushes } = setup({ over: { rateLimitPerMinute: 2 } });
    const from = (ip: string, key = TEAM_A) => server.inject(signed(key, BODY, { remoteAddress: ip }));
    expect((await from('10.0.0.1')).statusCode).toBe(202);
    expect((await from('10.0.0.2')).statusCode).toBe(202);
    const res = await from('10.0.0.3');
    expect(res.statusCode).toBe(429);
    expect(res.headers['retry-after']).toBe('30');
    expect(pushes).toHaveLength(2);
    expect((await from('10.0.0.3', TEAM_B)).statusCode).toBe(202);
  });
});

describe('POST /v1/refresh: clients behind a trusted proxy', () => {
  const PROXY = '10.0.0.1';
  const via = (client: string, request: InjectOptions = { method: 'POST', url: '/v1/refresh', payload: '{}' }) => ({
    ...request,
    remoteAddress: PROXY,
    headers: { ...(request.headers as Record<string, string> | undefined), 'x-forwarded-for': client },
  });

  it('limits the client named by the trusted proxy: one flooding client does not lock out another', async () => {
    const { server, pushes, metric, log } = setup({ over: { rateLimitPerMinute: 2, trustedProxies: [PROXY] } });
    const flood = await Promise.all(Array.from({ length: 50 }, () => server.inject(via('192.0.2.1'))));
    expect(flood.map((r) => r.statusCode).filter((c) => c === 429)).toHaveLength(48);
    expect(await metric('rate_limited')).toBe(48);
    const other = await server.inject(via('192.0.2.2', signed(GLOBAL)));
    expect(other.statusCode).toBe(202);
    expect(pushes).toHaveLength(1);
    // The log names the client, not the proxy.
    expect(log.entries.find((e) => e.msg === 'webhook: refresh')?.obj).toMatchObject({ client: '192.0.2.2' });
  });

  it('takes the address before the trusted proxies in a chain, and ignores what the client claims before it', async () => {
    const { server } = setup({ over: { rateLimitPerMinute: 1, trustedProxies: ['10.0.0.0/8'] } });
    // Each request claims a fresh address at the left; the client the proxies saw is 192.0.2.9.
    const claims = ['1.1.1.1', '2.2.2.2', '3.3.3.3'].map((fake) => via(`${fake}, 192.0.2.9, 10.1.2.3`));
    const codes = [];
    for (const r of claims) codes.push((await server.inject(r)).statusCode);
    expect(codes).toEqual([401, 429, 429]);
  });

  it('ignores X-Forwarded-For from a peer that is not a trusted proxy', async () => {
    const { server } = setup({ over: { rateLimitPerMinute: 1, trustedProxies: [PROXY] } });
    const direct = (fake: string) =>
      server.inject({
        method: 'POST',
        url: '/v1/refresh',
        payload: '{}',
        remoteAddress: '203.0.113.7',
        headers: { 'x-forwarded-for': fake },
      });
    expect((await direct('192.0.2.1')).statusCode).toBe(401);
    expect((await direct('192.0.2.2')).statusCode).toBe(429);
  });

  it('without trusted proxies the peer is the client, whatever X-Forwarded-For says', async () => {
    const { server } = setup({ over: { rateLimitPerMinute: 1 } });
    expect((await server.inject(via('192.0.2.1'))).statusCode).toBe(401);
    expect((await server.inject(via('192.0.2.2'))).statusCode).toBe(429);
  });

  it('the webhook on its own port trusts the same proxies', async () => {
    const metrics = createMetrics(undefined, { defaultMetrics: false });
    const webhook = createWebhook({
      keyFile: join(dir, 'key'),
      rateLimitPerMinute: 1,
      trustedProxies: [PROXY],
      coalesceWindowMs: 1000,
      index: new PathIndex(),
      target: { exists: () => true, push: () => undefined },
      metrics,
      clock: { now: () => NOW_S * 1000 },
      log: recordingLogger(),
    });
    const app = buildWebhookServer(webhook);
    expect((await app.inject(via('192.0.2.1'))).statusCode).toBe(401);
    expect((await app.inject(via('192.0.2.1'))).statusCode).toBe(429);
    expect((await app.inject(via('192.0.2.2'))).statusCode).toBe(401);
  });

  it('caps all clients together, with room left by a flooding one', async () => {
    const { server } = setup({ over: { rateLimitPerMinute: 2, globalRateLimitPerMinute: 4, trustedProxies: [PROXY] } });
    const codes: number[] = [];
    for (const client of ['192.0.2.1', '192.0.2.1', '192.0.2.1', '192.0.2.2', '192.0.2.3', '192.0.2.4']) {
      codes.push((await server.inject(via(client))).statusCode);
    }
    // 192.0.2.1 got its 2 of the global 4 and then 429; two more clients got the rest; the sixth waits.
    expect(codes).toEqual([401, 401, 429, 401, 401, 429]);
  });
});

describe('per-namespace keys', () => {
  it('counts and pushes only the key’s namespace for a shared path', async () => {
    const { server, pushes } = setup();
    const res = await server.inject(signed(TEAM_A));
    expect(res.body).toBe('{"queued":1}');
    expect(pushes).toEqual([['team-a/app']]);
  });

  it('refuses a SecretSync of another namespace with 403, queueing nothing of the request', async () => {
    const { server, pushes, metric } = setup();
    const body = JSON.stringify({ paths: ['secret/myapp/config'], secretSyncs: ['team-a/kv', 'team-b/db'] });
    const res = await server.inject(signed(TEAM_A, body));
    expect(res.statusCode).toBe(403);
    expect(res.body).not.toContain('team-b');
    expect(pushes).toEqual([]);
    expect(await metric('forbidden')).toBe(1);
    // A name that does not exist in another namespace is just as forbidden: no probing by status.
    const ghost = await server.inject(signed(TEAM_A, JSON.stringify({ secretSyncs: ['team-z/nope'] })));
    expect(ghost.statusCode).toBe(403);
  });

  it('allows its own SecretSyncs by name', async () => {
    const { server, pushes } = setup();
    const res = await server.inject(signed(TEAM_B, JSON.stringify({ secretSyncs: ['team-b/db'] })));
    expect(res.json()).toEqual({ queued: 1 });
    expect(pushes).toEqual([['team-b/db']]);
  });

  it('a key shared by two namespaces may refresh both', async () => {
    await writeFile(join(dir, 'ns', 'team-b'), TEAM_A);
    const { server, pushes } = setup();
    expect((await server.inject(signed(TEAM_A))).json()).toEqual({ queued: 2 });
    expect(pushes).toEqual([['team-a/app', 'team-b/app']]);
  });

  it('works without a global key', async () => {
    const { server, pushes } = setup({ keys: 'namespaces' });
    expect((await server.inject(signed(GLOBAL))).statusCode).toBe(401);
    expect((await server.inject(signed(TEAM_B))).json()).toEqual({ queued: 1 });
    expect(pushes).toEqual([['team-b/app']]);
  });

  it('ignores Secret-volume bookkeeping entries in the directory', async () => {
    const { server } = setup({ keys: 'namespaces' });
    expect((await server.inject(signed('not-a-namespace-key-0123456789'))).statusCode).toBe(401);
  });
});

describe('keys and rotation', () => {
  it('without any key the route is off: 404, nothing queued', async () => {
    const { server, pushes, metric } = setup({ keys: 'none' });
    const res = await server.inject(signed(GLOBAL));
    expect(res.statusCode).toBe(404);
    expect(pushes).toEqual([]);
    expect(await metric('disabled')).toBe(1);
  });

  it('picks up a rotated key within the reload interval, without a restart', async () => {
    const { server, clock, pushes } = setup({ over: { keyReloadMs: 2_000 } });
    expect((await server.inject(signed(GLOBAL))).statusCode).toBe(202);
    const NEW = 'rotated-global-key-0123456789abcdef';
    // As Kubernetes updates a Secret volume: a new file swapped in atomically.
    await writeFile(join(dir, 'key.new'), NEW);
    await rename(join(dir, 'key.new'), join(dir, 'key'));
    expect((await server.inject(signed(NEW))).statusCode).toBe(401);
    clock.t += 2_000;
    const ts = NOW_S + 2;
    expect((await server.inject(signed(NEW, BODY, { ts }))).statusCode).toBe(202);
    expect((await server.inject(signed(GLOBAL, BODY, { ts }))).statusCode).toBe(401);
    expect(pushes).toHaveLength(2);
  });

  it('accepts any of several keys, one per line, for rotation without a gap', async () => {
    await writeFile(join(dir, 'key'), `${GLOBAL}\n\n  second-key-0123456789abcdef-012345  \nshort\n`);
    const { server, log } = setup({ keys: 'global' });
    expect((await server.inject(signed(GLOBAL))).statusCode).toBe(202);
    expect((await server.inject(signed('second-key-0123456789abcdef-012345'))).statusCode).toBe(202);
    expect((await server.inject(signed('short'))).statusCode).toBe(401);
    expect(JSON.stringify(log.entries)).toContain(
      '1 key(s) shorter than 32 bytes ignored (make one with: openssl rand -hex 32)',
    );
    // Keys never reach the log.
    expect(JSON.stringify(log.entries)).not.toContain(GLOBAL);
    expect(JSON.stringify(log.entries)).not.toContain('short\\n');
  });
});

describe('coalescing', () => {
  it('counts but does not push again a SecretSync still waiting from a push in the window', async () => {
    const pending = new Set<Key>();
    const s = setup({ pendingPush: (k) => pending.has(k) });
    expect((await s.server.inject(signed(GLOBAL))).json()).toEqual({ queued: 2 });
    for (const k of s.pushes[0]!) pending.add(k);
    pending.delete('team-b/app'); // its reconcile started: a new value needs another run

    s.clock.t += 500;
    expect((await s.server.inject(signed(GLOBAL))).json()).toEqual({ queued: 2 });
    expect(s.pushes).toEqual([['team-a/app', 'team-b/app'], ['team-b/app']]);
    expect(await s.queuedTotal()).toBe(3);

    s.clock.t += 1_000; // the window is over: pushed again even if still pending
    expect((await s.server.inject(signed(GLOBAL, BODY, { ts: NOW_S + 1 }))).json()).toEqual({ queued: 2 });
    expect(s.pushes[2]).toEqual(['team-a/app', 'team-b/app']);
  });

  it('without pending information every trigger pushes (the queue collapses duplicates)', async () => {
    const s = setup();
    await s.server.inject(signed(GLOBAL));
    await s.server.inject(signed(GLOBAL));
    expect(s.pushes).toHaveLength(2);
  });

  it('pushes a SecretSync named by two paths once', async () => {
    const s = setup();
    const body = JSON.stringify({
      paths: ['secret/myapp/config', 'secret/data/myapp/config'],
      secretSyncs: ['team-a/app'],
    });
    expect((await s.server.inject(signed(GLOBAL, body))).json()).toEqual({ queued: 2 });
    expect(s.pushes).toEqual([['team-a/app', 'team-b/app']]);
  });
});

describe('servers', () => {
  it('buildWebhookServer serves the webhook alone', async () => {
    const metrics = createMetrics(undefined, { defaultMetrics: false });
    const pushes: Key[][] = [];
    const webhook = createWebhook({
      keyFile: join(dir, 'key'),
      rateLimitPerMinute: 10,
      coalesceWindowMs: 1000,
      index: new PathIndex(),
      target: { exists: () => true, push: (k) => pushes.push([...k]) },
      metrics,
      clock: { now: () => NOW_S * 1000 },
      log: recordingLogger(),
    });
    const app = buildWebhookServer(webhook);
    expect((await app.inject('/metrics')).statusCode).toBe(404);
    expect((await app.inject('/healthz')).statusCode).toBe(404);
    const res = await app.inject(signed(GLOBAL, JSON.stringify({ secretSyncs: ['team-a/app'] })));
    expect(res.json()).toEqual({ queued: 1 });
    expect(pushes).toEqual([['team-a/app']]);
  });

  it('buildServer without a webhook has no refresh route', async () => {
    const metrics = createMetrics(undefined, { defaultMetrics: false });
    const app = buildServer({
      registry: metrics.registry,
      health: () => ({ ok: true, problems: [] }),
      ready: () => true,
    });
    expect((await app.inject(signed(GLOBAL))).statusCode).toBe(404);
    expect((await app.inject('/healthz')).statusCode).toBe(200);
  });

  it('exposes every webhook outcome in /metrics from the start', async () => {
    const { server } = setup();
    const text = (await server.inject('/metrics')).body;
    for (const o of ['accepted', 'unauthorized', 'forbidden', 'too_large', 'bad_request', 'rate_limited', 'disabled']) {
      expect(text).toContain(`vaultsync_webhook_requests_total{outcome="${o}"} 0`);
    }
    expect(text).toContain('vaultsync_webhook_queued_total 0');
  });
});

function omit(r: InjectOptions, header: string): Record<string, string> {
  return Object.fromEntries(Object.entries(r.headers as Record<string, string>).filter(([k]) => k !== header));
}

describe('leader-election standby', () => {
  it('refuses an authenticated push with 503 and queues nothing; the leader accepts it', async () => {
    let leader = false;
    const { server, pushes, metric } = setup({ accepting: () => leader });
    const standby = await server.inject(signed(GLOBAL));
    expect(standby.statusCode).toBe(503);
    expect(standby.json()).toEqual({ error: 'this replica is a standby; retry to reach the leader' });
    expect(pushes).toEqual([]);
    expect(await metric('unavailable')).toBe(1);
    leader = true;
    const accepted = await server.inject(signed(GLOBAL));
    expect(accepted.statusCode).toBe(202);
    expect(pushes).toHaveLength(1);
  });

  it('still answers 401 to a bad signature on a standby', async () => {
    const { server } = setup({ accepting: () => false });
    expect((await server.inject(signed('wrong-key-0123456789abcdef'))).statusCode).toBe(401);
  });
});
