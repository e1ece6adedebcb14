import { describe, expect, it } from 'vitest';
import { buildServer } from './server.js';
import { createMetrics } from './metrics.js';

const NOW_S = 1_700_000_000;

function app(over: { ok?: boolean; ready?: boolean; perSecretSync?: boolean } = {}) {
  const clock = { t: (NOW_S + 90) * 1000, now: () => clock.t };
  const metrics = createMetrics(
    { countByReady: () => ({ True: 3, False: 1 }), queueDepth: () => ({ push: 0, new: 2, periodic: 5 }) },
    { defaultMetrics: false, perSecretSync: over.perSecretSync ?? false, clock },
  );
  metrics.observeSync('Synced', 0.02);
  metrics.observeSync('VaultUnavailable', 0.5);
  metrics.request('read', 200, 0.01);
  metrics.markFresh('team-a/app', NOW_S);
  metrics.markFresh('team-b/db', NOW_S + 60);
  const server = buildServer({
    registry: metrics.registry,
    health: () => ({
      ok: over.ok ?? true,
      problems: over.ok === false ? ['SecretSync watch made no progress for 700s'] : [],
    }),
    ready: () => over.ready ?? true,
  });
  return { server, metrics, clock };
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
  });

  it('names no SecretSync or namespace by default, and still says how stale the oldest one is', async () => {
    const body = (await app().server.inject('/metrics')).body;
    for (const name of ['team-a', 'team-b', 'namespace=', 'name=', 'last_success']) expect(body).not.toContain(name);
    expect(body).toContain('vaultsync_secretsync_oldest_success_age_seconds 90');
  });

  it('with perSecretSync, exports the last success of each SecretSync', async () => {
    const body = (await app({ perSecretSync: true }).server.inject('/metrics')).body;
    expect(body).toContain(
      `vaultsync_secretsync_last_success_timestamp_seconds{namespace="team-a",name="app"} ${NOW_S}`,
    );
    expect(body).toContain(
      `vaultsync_secretsync_last_success_timestamp_seconds{namespace="team-b",name="db"} ${NOW_S + 60}`,
    );
    expect(body).toContain('vaultsync_secretsync_oldest_success_age_seconds 90');
  });

  it('forget removes a SecretSync from the series and from the oldest age', async () => {
    const { server, metrics, clock } = app({ perSecretSync: true });
    metrics.forget('team-a/app');
    const body = (await server.inject('/metrics')).body;
    expect(body).not.toContain('name="app"');
    expect(body).toContain('vaultsync_secretsync_oldest_success_age_seconds 30');
    metrics.forget('team-b/db');
    clock.t += 3_600_000;
    // Nothing synced on this replica (a standby): 0, so max() over replicas is the leader's age.
    expect((await server.inject('/metrics')).body).toContain('vaultsync_secretsync_oldest_success_age_seconds 0');
  });
});
