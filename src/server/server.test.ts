import { describe, expect, it } from 'vitest';
import { buildServer } from './server.js';
import { createMetrics } from './metrics.js';

function app(over: { ok?: boolean; ready?: boolean } = {}) {
  const metrics = createMetrics(
    { countByReady: () => ({ True: 3, False: 1 }), queueDepth: () => ({ push: 0, new: 2, periodic: 5 }) },
    { defaultMetrics: false },
  );
  metrics.observeSync('Synced', 0.02);
  metrics.observeSync('VaultUnavailable', 0.5);
  metrics.request('read', 200, 0.01);
  metrics.markFresh('team-a/app', 1_700_000_000);
  const server = buildServer({
    registry: metrics.registry,
    health: () => ({
      ok: over.ok ?? true,
      problems: over.ok === false ? ['SecretSync watch made no progress for 700s'] : [],
    }),
    ready: () => over.ready ?? true,
  });
  return { server, metrics };
}

describe('health and metrics server', () => {
  it('healthz reflects the health report', async () => {
    expect((await app().server.inject('/healthz')).statusCode).toBe(200);
    const bad = await app({ ok: false }).server.inject('/healthz');
    expect(bad.statusCode).toBe(503);
    expect(bad.json()).toMatchObject({ ok: false, problems: ['SecretSync watch made no progress for 700s'] });
  });

  it('readyz is 503 until caches have synced', async () => {
    expect((await app({ ready: false }).server.inject('/readyz')).statusCode).toBe(503);
    expect((await app({ ready: true }).server.inject('/readyz')).statusCode).toBe(200);
  });

  it('metrics exposes our series in Prometheus text format', async () => {
    const res = await app().server.inject('/metrics');
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toContain('text/plain');
    expect(res.body).toContain('vaultsync_syncs_total{outcome="Synced"} 1');
    expect(res.body).toContain('vaultsync_syncs_total{outcome="VaultUnavailable"} 1');
    expect(res.body).toContain('vaultsync_vault_requests_total{operation="read",code="200"} 1');
    expect(res.body).toContain('vaultsync_secretsyncs{ready="True"} 3');
    expect(res.body).toContain('vaultsync_queue_depth{priority="periodic"} 5');
    expect(res.body).toContain(
      'vaultsync_secretsync_last_success_timestamp_seconds{namespace="team-a",name="app"} 1700000000',
    );
  });

  it('forget removes a SecretSync series', async () => {
    const { server, metrics } = app();
    metrics.forget('team-a/app');
    expect((await server.inject('/metrics')).body).not.toContain('name="app"');
  });
});
