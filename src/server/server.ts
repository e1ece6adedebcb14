import Fastify, { type FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';

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
  /** Called from onClose: stop the queue, informers and Vault clients. */
  onClose?: () => Promise<void>;
}

/** Routes and plugins, no port: main listens, tests use inject(). */
export function buildServer(deps: ServerDeps): FastifyInstance {
  const app = Fastify({ logger: false, bodyLimit: 64 * 1024 });

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

  if (deps.onClose) {
    const close = deps.onClose;
    app.addHook('onClose', async () => close());
  }
  return app;
}
