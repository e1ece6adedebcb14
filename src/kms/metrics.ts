/**
 * The plugin's metrics and its HTTP server (own port, never the gRPC socket): /metrics,
 * /healthz (the process serves) and /readyz (Status is healthy; the same cached answer the
 * apiserver gets, so probes add no Vault calls within the cache period). Labels are methods,
 * codes and operations: never data.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { KmsMethod, RpcObserver } from './grpc.js';
import type { StatusAnswer } from './service.js';
import type { VaultOp } from './vault-http.js';

const RPC_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

export interface KmsMetrics extends RpcObserver {
  registry: Registry;
  vault: (op: VaultOp, outcome: string, seconds: number) => void;
  healthy: (ok: boolean) => void;
  keyVersion: (version: number) => void;
  /** Expiry of the Vault token, ms since epoch; 0: it does not expire. */
  tokenExpiry: (expiresAt: number) => void;
}

export function createKmsMetrics(): KmsMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const rpcs = new Counter({
    name: 'vaultsync_kms_rpc_total',
    help: 'KMS v2 gRPC calls answered, by method and gRPC status code.',
    labelNames: ['method', 'code'],
    registers: [registry],
  });
  const rpcSeconds = new Histogram({
    name: 'vaultsync_kms_rpc_duration_seconds',
    help: 'Time to answer a KMS v2 gRPC call, by method.',
    labelNames: ['method'],
    buckets: RPC_BUCKETS,
    registers: [registry],
  });
  const vaultCalls = new Counter({
    name: 'vaultsync_kms_vault_requests_total',
    help: 'Requests to Vault, by operation (encrypt, decrypt, login, renew, lookup) and HTTP status ("error": no answer).',
    labelNames: ['operation', 'status'],
    registers: [registry],
  });
  const vaultSeconds = new Histogram({
    name: 'vaultsync_kms_vault_request_duration_seconds',
    help: 'Duration of requests to Vault, by operation.',
    labelNames: ['operation'],
    buckets: RPC_BUCKETS,
    registers: [registry],
  });
  const healthy = new Gauge({
    name: 'vaultsync_kms_healthy',
    help: '1 when the last Status Transit round trip worked, else 0.',
    registers: [registry],
  });
  const version = new Gauge({
    name: 'vaultsync_kms_transit_key_version',
    help: 'Latest Transit key version seen (the version in the key_id given to the apiserver).',
    registers: [registry],
  });
  const expiry = new Gauge({
    name: 'vaultsync_kms_token_expiry_timestamp_seconds',
    help: 'When the Vault token in use expires (Unix seconds; 0: it does not expire).',
    registers: [registry],
  });
  return {
    registry,
    rpc(method: KmsMethod, code, seconds) {
      rpcs.inc({ method, code });
      rpcSeconds.observe({ method }, seconds);
    },
    vault: (op, outcome, seconds) => {
      vaultCalls.inc({ operation: op, status: outcome });
      vaultSeconds.observe({ operation: op }, seconds);
    },
    healthy: (ok) => healthy.set(ok ? 1 : 0),
    keyVersion: (v) => version.set(v),
    tokenExpiry: (at) => expiry.set(Math.round(at / 1000)),
  };
}

export function buildKmsHttpServer(deps: { registry: Registry; status: () => Promise<StatusAnswer> }): FastifyInstance {
  const app = Fastify({ logger: false });
  app.get('/healthz', (_req, reply) => reply.send({ ok: true }));
  app.get('/readyz', async (_req, reply) => {
    const s = await deps.status();
    const ready = s.healthz === 'ok';
    return reply.code(ready ? 200 : 503).send({ ready, healthz: s.healthz, keyId: s.keyId });
  });
  app.get('/metrics', async (_req, reply) => {
    const body = await deps.registry.metrics();
    return reply.type(deps.registry.contentType).send(body);
  });
  return app;
}
