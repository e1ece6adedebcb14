/**
 * POST /v1/refresh: a signed request names Vault paths and/or SecretSyncs; the SecretSyncs that
 * read them are queued at push priority with the read cache bypassed. The answer is only a count:
 * never secret data, never names or namespaces.
 *
 * Order of checks, cheapest and least revealing first: disabled (404) and the per-client and
 * global rate limits (429, rate-limit.ts) before the body is read; body size (413) while reading;
 * signature and replay (401), per-key rate limit (429), shape (400) and scope (403) after. Nothing
 * is queued unless every check passes.
 *
 * On a leader-election standby, a request whose signature and shape check out is forwarded to the
 * leader (forward.ts) and the leader's answer relayed; replay, per-key limit and scope are the
 * leader's to judge, so nothing is counted twice. If no leader answers within the handover wait,
 * the standby queues the refresh itself: its queue runs when it takes the Lease.
 */
import type { FastifyError, FastifyPluginCallback, FastifyReply, FastifyRequest } from 'fastify';
import type { Clock, Logger } from '../core/types.js';
import { authenticate } from './auth.js';
import { FORWARD_HEADER, NOT_LEADER_HEADER, checkHop, type Forwarder } from './forward.js';
import { WebhookKeys, type KeyProvider } from './keys.js';
import type { WebhookMetrics, WebhookOutcome } from './metrics.js';
import type { PathLookup } from './path-index.js';
import { TokenBuckets } from '../scheduler/token-buckets.js';
import { ClientRateLimit, DEFAULT_GLOBAL_RATE_FACTOR } from './rate-limit.js';
import { Refresher, type RefreshTarget } from './refresh.js';
import { parseRefreshBody, parseRefreshQuery, type Parsed } from './refresh-request.js';
import { ReplayGuard } from './replay.js';

export const REFRESH_ROUTE = '/v1/refresh';
export const WEBHOOK_BODY_LIMIT = 64 * 1024;
/** How long a GitHub delivery's signature and delivery id are remembered to refuse its replay. */
export const GITHUB_REPLAY_WINDOW_MS = 10 * 60_000;

export interface WebhookOptions {
  /** File with the global key(s), one per line. */
  keyFile?: string;
  /** Directory with one key file per namespace, named after it. */
  namespaceKeysDir?: string;
  /** Requests per minute per client, and per key. */
  rateLimitPerMinute: number;
  /** Requests per minute of all clients together; default DEFAULT_GLOBAL_RATE_FACTOR × rateLimitPerMinute. */
  globalRateLimitPerMinute?: number;
  /**
   * Addresses or CIDRs of proxies in front of the webhook (fastify's trustProxy): from a peer in
   * this list the client is taken from X-Forwarded-For. Empty: the peer is the client.
   */
  trustedProxies?: readonly string[];
  coalesceWindowMs: number;
  index: PathLookup;
  target: RefreshTarget;
  metrics: WebhookMetrics;
  clock: Clock;
  log: Logger;
  /** Replaces the key files (tests). */
  keys?: KeyProvider;
  keyReloadMs?: number;
  maxSkewSeconds?: number;
  /** Replicas behind one Service: forward from a standby to the leader. */
  peers?: WebhookPeers;
}

export interface WebhookPeers {
  forwarder: Forwarder;
  /** forwardKey(hash key): checks the hop header of requests other replicas forward here. */
  hopKey: Buffer;
}

/** The assembled webhook: register it with `webhookRoutes`, through buildServer or buildWebhookServer. */
export interface Webhook {
  keys: KeyProvider;
  /** Per client and global, before the body is read. */
  clients: ClientRateLimit;
  /** Per key, after the signature checks out. */
  keyLimiter: TokenBuckets;
  /** GitHub delivery signatures and delivery ids seen within GITHUB_REPLAY_WINDOW_MS. */
  replays: ReplayGuard;
  /** For the server that serves the webhook: whose X-Forwarded-For is believed. */
  trustedProxies: readonly string[];
  refresher: Refresher;
  metrics: WebhookMetrics;
  clock: Clock;
  log: Logger;
  maxSkewSeconds?: number;
  /** See RefreshTarget.accepting. */
  accepting?: () => boolean;
  peers?: WebhookPeers;
}

export function createWebhook(opts: WebhookOptions): Webhook {
  const { clock, log } = opts;
  return {
    keys:
      opts.keys ??
      new WebhookKeys({
        keyFile: opts.keyFile,
        namespaceKeysDir: opts.namespaceKeysDir,
        reloadMs: opts.keyReloadMs,
        clock,
        log,
      }),
    clients: new ClientRateLimit({
      perClientPerMinute: opts.rateLimitPerMinute,
      globalPerMinute: opts.globalRateLimitPerMinute ?? DEFAULT_GLOBAL_RATE_FACTOR * opts.rateLimitPerMinute,
      clock,
    }),
    keyLimiter: new TokenBuckets({
      burst: opts.rateLimitPerMinute,
      refill: { tokens: opts.rateLimitPerMinute, everyMs: 60_000 },
      clock,
    }),
    replays: new ReplayGuard({ ttlMs: GITHUB_REPLAY_WINDOW_MS, clock }),
    trustedProxies: opts.trustedProxies ?? [],
    refresher: new Refresher({
      index: opts.index,
      target: opts.target,
      clock,
      coalesceWindowMs: opts.coalesceWindowMs,
    }),
    metrics: opts.metrics,
    clock,
    log,
    maxSkewSeconds: opts.maxSkewSeconds,
    ...(opts.target.accepting ? { accepting: opts.target.accepting.bind(opts.target) } : {}),
    ...(opts.peers ? { peers: opts.peers } : {}),
  };
}

/** An encapsulated plugin: its raw-body parser and error handler apply to the webhook route only. */
export function webhookRoutes(webhook: Webhook): FastifyPluginCallback {
  const { keys, clients, keyLimiter, replays, refresher, metrics, clock, log, peers } = webhook;
  /** The client of each request: the peer, or for a forward from another replica, its client. */
  const clientOf = new WeakMap<FastifyRequest, { client: string; forwarded: boolean }>();

  const answer = (reply: FastifyReply, outcome: WebhookOutcome, code: number, body: object) => {
    metrics.webhookRequest(outcome);
    return reply.code(code).send(body);
  };
  const limited = (reply: FastifyReply, waitMs: number) => {
    void reply.header('retry-after', String(Math.max(1, Math.ceil(waitMs / 1000))));
    return answer(reply, 'rate_limited', 429, { error: 'too many requests; retry later' });
  };

  return (scope, _opts, done) => {
    // The HMAC is over the bytes as sent: keep them, parse JSON only after the signature checks out.
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: WEBHOOK_BODY_LIMIT }, (_req, body, done) => {
      done(null, body);
    });

    scope.setErrorHandler((err: FastifyError, _req, reply) => {
      if (err.statusCode === 413) return answer(reply, 'too_large', 413, { error: 'body too large' });
      if (err.statusCode !== undefined && err.statusCode >= 400 && err.statusCode < 500) {
        return answer(reply, 'bad_request', 400, { error: 'malformed request' });
      }
      log.error({ err: err.message }, 'webhook request failed');
      return reply.code(500).send({ error: 'internal error' });
    });

    scope.addHook('onRequest', async (req, reply) => {
      if (!keys.configured()) return answer(reply, 'disabled', 404, { error: 'not found' });
      const hop = peers ? checkHop(peers.hopKey, clock.now(), req.method, req.url, req.headers) : undefined;
      if (hop?.ok === false || (hop === undefined && req.headers[FORWARD_HEADER] !== undefined)) {
        log.warn(
          { client: req.ip, why: hop?.ok === false ? hop.message : 'forwarding is off' },
          'webhook: bad forward',
        );
        return answer(reply, 'unauthorized', 401, { error: 'forward not valid' });
      }
      const client = hop?.ok ? hop.client : req.ip;
      clientOf.set(req, { client, forwarded: hop?.ok === true });
      const wait = clients.take(client);
      if (wait > 0) return limited(reply, wait);
      return undefined;
    });

    scope.post(REFRESH_ROUTE, async (req: FastifyRequest, reply) => {
      const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
      const { client, forwarded } = clientOf.get(req) ?? { client: req.ip, forwarded: false };
      const keySet = await keys.current();
      if (keySet.global.length === 0 && keySet.namespaces.size === 0) {
        return answer(reply, 'unavailable', 503, { error: 'the webhook has no usable key; see the controller log' });
      }
      const auth = authenticate({
        headers: req.headers,
        body,
        keys: keySet,
        nowSeconds: Math.floor(clock.now() / 1000),
        maxSkewSeconds: webhook.maxSkewSeconds,
      });
      if (!auth.ok) {
        log.warn({ client, why: auth.message }, 'webhook: unauthorized request');
        return answer(reply, 'unauthorized', 401, { error: auth.message });
      }
      const parsed = targetsOf(req, body, auth.github !== undefined);
      let deferred = false;
      if (webhook.accepting?.() === false) {
        // Never a second hop: the replica that forwarded this waits for the Lease to name another.
        if (forwarded || peers === undefined) {
          if (forwarded) void reply.header(NOT_LEADER_HEADER, '1');
          return answer(reply, 'unavailable', 503, { error: 'this replica is a standby; retry to reach the leader' });
        }
        if (!parsed.ok) return answer(reply, 'bad_request', 400, { error: parsed.message });
        const fwd = await peers.forwarder.forward({
          method: req.method,
          url: req.url,
          headers: req.headers,
          body,
          client,
        });
        if (fwd.kind === 'answered') {
          // Remembered here too once the leader accepted it, so that a replay still fails after a takeover.
          if (fwd.status === 202 && auth.github !== undefined) {
            replays.seenAny([`sig:${auth.github.signature}`, `id:${auth.github.delivery}`]);
          }
          log.debug({ client, leader: fwd.leader, status: fwd.status }, 'webhook: forwarded to the leader');
          if (fwd.retryAfter !== undefined) void reply.header('retry-after', fwd.retryAfter);
          metrics.webhookRequest('forwarded');
          return reply.code(fwd.status).type('application/json').send(fwd.body);
        }
        if (fwd.kind === 'no-leader' && !peers.forwarder.canDefer()) {
          log.warn({ client, why: fwd.why }, 'webhook: no leader answered and this replica is stopping');
          return answer(reply, 'unavailable', 503, { error: 'no leader answered; retry' });
        }
        if (fwd.kind === 'no-leader') {
          deferred = true;
          log.warn(
            { client, why: fwd.why },
            'webhook: no leader answered within the handover wait; queued here for the takeover',
          );
        }
      }
      if (
        auth.github !== undefined &&
        replays.seenAny([`sig:${auth.github.signature}`, `id:${auth.github.delivery}`])
      ) {
        log.warn({ client }, 'webhook: replayed GitHub delivery refused');
        return answer(reply, 'unauthorized', 401, { error: 'delivery already seen' });
      }
      const wait = keyLimiter.take(auth.keyId);
      if (wait > 0) return limited(reply, wait);

      if (!parsed.ok) return answer(reply, 'bad_request', 400, { error: parsed.message });

      const result = refresher.refresh(parsed.targets, auth.scope);
      if (!result.ok) {
        return answer(reply, 'forbidden', 403, { error: "a SecretSync named is outside the key's namespace" });
      }
      metrics.webhookQueued(result.pushed);
      log.info({ client, key: auth.keyId, queued: result.queued, pushed: result.pushed, deferred }, 'webhook: refresh');
      return answer(reply, deferred ? 'deferred' : 'accepted', 202, { queued: result.queued });
    });
    done();
  };
}

/**
 * Our signature covers the body only, so targets must be in the body and a query string is refused.
 * A GitHub repository webhook's body is GitHub's payload: its targets come from the webhook URL's
 * query (unsigned; see docs/webhook.md), else from a body of our shape.
 */
function targetsOf(req: FastifyRequest, body: Buffer, github: boolean): Parsed {
  const query = (req.query ?? {}) as Record<string, unknown>;
  if (!github) {
    if (Object.keys(query).length > 0)
      return { ok: false, message: 'query parameters are not signed: name targets in the body' };
    return parseRefreshBody(body);
  }
  return parseRefreshQuery(query) ?? parseRefreshBody(body);
}
