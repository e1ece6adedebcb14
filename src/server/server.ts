import Fastify, { type FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';
import { WEBHOOK_BODY_LIMIT, webhookRoutes, type Webhook } from './webhook.js';

export interface HealthReport {
  ok: boolean;
  /** Why not ok: e.g. "SecretSync watch made no progress for 700s", "worker stuck for 320s". */
  problems: string[];
}

export interface ServerDeps {
  registry: Registry;
  /** Liveness: false when the controller is stuck (watches not progressing, workers wedged). */
  health(): HealthReport;
  /** Readiness: caches synced. */
  ready(): boolean;
  /** Serve POST /v1/refresh here too (--webhook-listen empty); absent: see buildWebhookServer. */
  webhook?: Webhook;
}

/** Routes and plugins, no port: main listens, tests use inject(). */
export function buildServer(deps: ServerDeps): FastifyInstance {
  const app = Fastify({ logger: false, bodyLimit: WEBHOOK_BODY_LIMIT, ...trustProxy(deps.webhook) });

  app.get('/healthz', async (_req, reply) => {
    const h = deps.health();
    return reply.code(h.ok ? 200 : 503).send(h);
  });

  app.get('/readyz', async (_req, reply) => {
    const ready = deps.ready();
    return reply.code(ready ? 200 : 503).send({ ready });
  });

  app.get('/metrics', async (_req, reply) => {
    const body = await deps.registry.metrics();
    return reply.type(deps.registry.contentType).send(body);
  });

  if (deps.webhook) void app.register(webhookRoutes(deps.webhook));
  return app;
}

/** The webhook alone, for its own port (--webhook-listen): no health or metrics routes. */
export function buildWebhookServer(webhook: Webhook): FastifyInstance {
  const app = Fastify({ logger: false, bodyLimit: WEBHOOK_BODY_LIMIT, ...trustProxy(webhook) });
  void app.register(webhookRoutes(webhook));
  return app;
}

/**
 * `req.ip` is the peer, or, when the peer is one of the webhook's trusted proxies, the address
 * X-Forwarded-For names before the trusted ones (proxy-addr): a client cannot pick its own
 * rate-limit bucket by sending the header itself.
 */
function trustProxy(webhook: Webhook | undefined): { trustProxy?: string[] } {
  const proxies = webhook?.trustedProxies ?? [];
  return proxies.length > 0 ? { trustProxy: [...proxies] } : {};
}
