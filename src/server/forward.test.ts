import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { recordingLogger } from '../core/testing/logger.js';
import type { Key } from '../core/types.js';
import {
  FORWARDED_FOR_HEADER,
  FORWARD_HEADER,
  Forwarder,
  NOT_LEADER_HEADER,
  checkHop,
  forwardKey,
  type LeaderView,
} from './forward.js';
import { createMetrics } from './metrics.js';
import { PathIndex } from './path-index.js';
import { buildWebhookServer } from './server.js';
import { signGitHub, signRequest } from './signature.js';
import { createWebhook } from './webhook.js';

const KEY = 'global-key-0123456789abcdef-0123456789';
const HOP_KEY = forwardKey(Buffer.from('the-hash-key-all-replicas-share-0123456789'));
const BODY = JSON.stringify({ paths: ['secret/myapp/config'] });

const servers: FastifyInstance[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await s.close();
});

/** One replica: its webhook, what it pushed, its metrics; `leads` and `leader` drive its LeaderView. */
function replica(opts: { leads: boolean; waitMs?: number; rate?: number; fetch?: typeof fetch }) {
  const view = { leads: opts.leads, leader: undefined as string | undefined };
  const leader: LeaderView = { isLeader: () => view.leads, leaderAddress: () => view.leader };
  const clock = { now: () => Date.now() };
  const log = recordingLogger();
  const index = new PathIndex();
  index.upsert('team-a/app', 'secret', 'myapp/config');
  const pushes: Key[][] = [];
  const metrics = createMetrics(undefined, { defaultMetrics: false });
  const webhook = createWebhook({
    rateLimitPerMinute: opts.rate ?? 1000,
    coalesceWindowMs: 0,
    index,
    target: { exists: () => true, push: (k) => pushes.push([...k]), accepting: () => view.leads },
    metrics,
    clock,
    log,
    keys: {
      configured: () => true,
      current: () => Promise.resolve({ global: [Buffer.from(KEY)], namespaces: new Map() }),
    },
    peers: {
      forwarder: new Forwarder({
        leader,
        key: HOP_KEY,
        waitMs: opts.waitMs ?? 1000,
        clock,
        log,
        ...(opts.fetch ? { fetch: opts.fetch } : {}),
      }),
      hopKey: HOP_KEY,
    },
  });
  const server = buildWebhookServer(webhook);
  servers.push(server);
  const outcome = async (o: string) =>
    Number(
      new RegExp(`^vaultsync_webhook_requests_total\\{outcome="${o}"\\} (\\d+)$`, 'm').exec(
        await metrics.registry.metrics(),
      )?.[1],
    );
  const listen = async () => {
    await server.listen({ host: '127.0.0.1', port: 0 });
    return `127.0.0.1:${(server.server.address() as AddressInfo).port}`;
  };
  return { server, view, pushes, log, outcome, listen };
}

function signed(body = BODY, key = KEY) {
  const ts = String(Math.floor(Date.now() / 1000));
  return {
    method: 'POST' as const,
    url: '/v1/refresh',
    headers: {
      'content-type': 'application/json',
      'x-vaultsync-timestamp': ts,
      'x-vaultsync-signature': signRequest(Buffer.from(key), ts, body),
    },
    payload: body,
  };
}

describe('a standby forwards signed pushes to the leader', () => {
  it("relays the leader's answer; only the leader queues; the leader counts it accepted", async () => {
    const leader = replica({ leads: true });
    const standby = replica({ leads: false });
    standby.view.leader = await leader.listen();
    const res = await standby.server.inject(signed());
    expect(res.statusCode).toBe(202);
    expect(res.json()).toEqual({ queued: 1 });
    expect(leader.pushes).toEqual([['team-a/app']]);
    expect(standby.pushes).toEqual([]);
    expect(await leader.outcome('accepted')).toBe(1);
    expect(await standby.outcome('forwarded')).toBe(1);
    expect(await standby.outcome('accepted')).toBe(0);
  });

  it('answers what it can itself (bad signature, bad body) without a hop', async () => {
    const leader = replica({ leads: true });
    const standby = replica({ leads: false });
    standby.view.leader = await leader.listen();
    expect((await standby.server.inject(signed(BODY, 'wrong-key-0123456789abcdef-0123456789'))).statusCode).toBe(401);
    expect((await standby.server.inject(signed('{"paths":[]}'))).statusCode).toBe(400);
    expect(await leader.outcome('unauthorized')).toBe(0);
    expect(await leader.outcome('bad_request')).toBe(0);
  });

  it('the leader rate-limits forwarded requests by the original client, not by the standby', async () => {
    const leader = replica({ leads: true, rate: 2 });
    const standby = replica({ leads: false });
    standby.view.leader = await leader.listen();
    const from = (ip: string) => ({ ...signed(), remoteAddress: ip });
    expect((await standby.server.inject(from('10.0.0.1'))).statusCode).toBe(202);
    expect((await standby.server.inject(from('10.0.0.1'))).statusCode).toBe(202);
    // The leader's limit, relayed with its Retry-After.
    const third = await standby.server.inject(from('10.0.0.1'));
    expect(third.statusCode).toBe(429);
    expect(third.headers['retry-after']).toBeDefined();
    const clients = leader.log.entries
      .filter((e) => e.msg === 'webhook: refresh')
      .map((e) => (e.obj as { client?: string }).client);
    expect(clients).toEqual(['10.0.0.1', '10.0.0.1']);
  });

  it('refuses a forged or moved hop header; a forward reaching a non-leader is answered, never forwarded again', async () => {
    const leader = replica({ leads: true });
    const url = `http://${await leader.listen()}/v1/refresh`;
    const s = signed();
    const forged = await fetch(url, {
      method: 'POST',
      headers: {
        ...s.headers,
        [FORWARD_HEADER]: `t=${Date.now()},mac=${'0'.repeat(64)}`,
        [FORWARDED_FOR_HEADER]: '1.2.3.4',
      },
      body: s.payload,
    });
    expect(forged.status).toBe(401);
    expect(leader.pushes).toEqual([]);

    // A real hop header, captured, on another signed request: refused (it covers the signature).
    const seen: Record<string, string> = {};
    const capture = replica({ leads: true });
    capture.server.addHook('onRequest', (req, _reply, done) => {
      for (const h of [FORWARD_HEADER, FORWARDED_FOR_HEADER]) seen[h] = String(req.headers[h]);
      done();
    });
    const standby = replica({ leads: false });
    standby.view.leader = await capture.listen();
    expect((await standby.server.inject(signed())).statusCode).toBe(202);
    expect(
      checkHop(HOP_KEY, Date.now(), 'POST', '/v1/refresh', { ...signed('{"secretSyncs":["a/b"]}').headers, ...seen }),
    ).toEqual({
      ok: false,
      message: `${FORWARD_HEADER} does not match`,
    });

    // The target of a forward that does not lead answers 503 "not leader" and pushes nothing.
    const other = replica({ leads: false, waitMs: 300 });
    const otherAddress = await other.listen();
    other.view.leader = standby.view.leader; // it would forward, were it allowed to
    standby.view.leader = otherAddress;
    const t0 = Date.now();
    const res = await standby.server.inject(signed());
    // No leader answered within the wait: queued here for the takeover.
    expect(res.statusCode).toBe(202);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(900);
    expect(other.pushes).toEqual([]);
    expect(await other.outcome('unavailable')).toBeGreaterThanOrEqual(1);
    expect(await capture.outcome('accepted')).toBe(1); // only the first, direct forward
    expect(standby.pushes).toEqual([['team-a/app']]);
    expect(await standby.outcome('deferred')).toBe(1);
  });

  it('a replica that does not lead answers a forward 503 with the not-leader mark, and pushes nothing', async () => {
    const notLeading = replica({ leads: false });
    const address = await notLeading.listen();
    const answers: { status: number; notLeader: string | null }[] = [];
    const standby = replica({
      leads: false,
      waitMs: 300,
      fetch: async (input, init) => {
        const r = await fetch(input, init);
        answers.push({ status: r.status, notLeader: r.headers.get(NOT_LEADER_HEADER) });
        return r;
      },
    });
    standby.view.leader = address;
    await standby.server.inject(signed());
    expect(answers.length).toBeGreaterThanOrEqual(1);
    expect(answers.every((a) => a.status === 503 && a.notLeader === '1')).toBe(true);
    expect(notLeading.pushes).toEqual([]);
    expect(await notLeading.outcome('forwarded')).toBe(0);
  });

  it('waits for a handover: a standby that takes the Lease meanwhile handles the push itself', async () => {
    const standby = replica({ leads: false, waitMs: 3000 });
    standby.view.leader = '127.0.0.1:9'; // the old leader, gone: connection refused
    setTimeout(() => (standby.view.leads = true), 500);
    const t0 = Date.now();
    const res = await standby.server.inject(signed());
    expect(res.statusCode).toBe(202);
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(standby.pushes).toEqual([['team-a/app']]);
    expect(await standby.outcome('accepted')).toBe(1);
  });

  it('waits for a handover: a new leader that appears is forwarded to', async () => {
    const next = replica({ leads: true });
    const address = await next.listen();
    const standby = replica({ leads: false, waitMs: 3000 });
    setTimeout(() => (standby.view.leader = address), 400);
    const res = await standby.server.inject(signed());
    expect(res.statusCode).toBe(202);
    expect(next.pushes).toEqual([['team-a/app']]);
    expect(standby.pushes).toEqual([]);
  });

  it('a GitHub delivery forwarded once is refused when sent again, before and after a takeover', async () => {
    const leader = replica({ leads: true });
    const standby = replica({ leads: false });
    standby.view.leader = await leader.listen();
    const gh = {
      method: 'POST' as const,
      url: '/v1/refresh',
      headers: {
        'content-type': 'application/json',
        'x-github-delivery': 'delivery-1',
        'x-hub-signature-256': signGitHub(Buffer.from(KEY), BODY),
      },
      payload: BODY,
    };
    expect((await standby.server.inject(gh)).statusCode).toBe(202);
    const again = await standby.server.inject(gh);
    expect(again.statusCode).toBe(401); // the leader's answer, relayed
    expect(again.json()).toEqual({ error: 'delivery already seen' });
    expect(leader.pushes).toHaveLength(1);
    // The old leader is gone and the standby leads: it remembers the delivery it forwarded.
    await leader.server.close();
    standby.view.leads = true;
    expect((await standby.server.inject(gh)).statusCode).toBe(401);
    expect(standby.pushes).toEqual([]);
  });
});
