/** The registry's text output: build info, the standard process/Node.js names, the per-SecretSync Ready gauge. */
import { describe, expect, it } from 'vitest';
import type { Key } from '../core/types.js';
import { createMetrics, type ReadyCounter } from './metrics.js';

const BUILD = { version: '1.2.3', revision: '0123456789abcdef0123456789abcdef01234567', nodeVersion: 'v24.1.0' };

/** A cache of SecretSyncs whose Ready status the test changes. */
function cache(initial: Record<Key, string>): ReadyCounter & { ready: Map<Key, string> } {
  const ready = new Map(Object.entries(initial));
  return {
    ready,
    countByReady: () => ({}),
    queueDepth: () => ({}),
    readyByKey: () => ready.entries(),
  };
}

const scrape = (m: ReturnType<typeof createMetrics>) => m.registry.metrics();
const readySeries = (text: string) => text.split('\n').filter((l) => l.startsWith('vaultsync_secretsync_ready{'));

describe('vaultsync_build_info', () => {
  it('is 1 with the version, revision and Node.js version as labels', async () => {
    const text = await scrape(createMetrics(undefined, { defaultMetrics: false, build: BUILD }));
    expect(text).toContain('# TYPE vaultsync_build_info gauge');
    expect(text).toContain(
      'vaultsync_build_info{version="1.2.3",revision="0123456789abcdef0123456789abcdef01234567",node_version="v24.1.0"} 1',
    );
  });

  it('says unknown rather than nothing when no build info is given', async () => {
    const text = await scrape(createMetrics(undefined, { defaultMetrics: false }));
    expect(text).toContain('vaultsync_build_info{version="unknown",revision="unknown",node_version="unknown"} 1');
  });
});

describe('process and Node.js metrics', () => {
  it('carry their standard names, without the vaultsync_ prefix', async () => {
    const text = await scrape(createMetrics(undefined, { build: BUILD }));
    for (const name of [
      'process_cpu_seconds_total',
      'process_resident_memory_bytes',
      'process_start_time_seconds',
      'nodejs_heap_size_used_bytes',
      'nodejs_eventloop_lag_p99_seconds',
      'nodejs_version_info',
    ]) {
      expect(text).toMatch(new RegExp(`^${name}(\\{[^}]*\\})? `, 'm'));
    }
    expect(text).not.toMatch(/^vaultsync_(process|nodejs)_/m);
  });

  it('are absent when turned off (the tests that compare whole outputs)', async () => {
    const text = await scrape(createMetrics(undefined, { defaultMetrics: false }));
    expect(text).not.toMatch(/^(process|nodejs)_/m);
  });
});

describe('vaultsync_secretsync_ready (per SecretSync, opt-in)', () => {
  it('is not registered by default, so no series names a SecretSync', async () => {
    const source = cache({ 'team-a/app': 'True' });
    const text = await scrape(createMetrics(source, { defaultMetrics: false }));
    expect(text).not.toContain('vaultsync_secretsync_ready');
    expect(text).not.toContain('team-a');
  });

  it('with perSecretSync: 1 for Ready=True, 0 for False and Unknown', async () => {
    const source = cache({ 'team-a/app': 'True', 'team-a/db': 'False', 'team-b/new': 'Unknown' });
    const text = await scrape(createMetrics(source, { defaultMetrics: false, perSecretSync: true }));
    expect(text).toContain('# TYPE vaultsync_secretsync_ready gauge');
    expect(readySeries(text).sort()).toEqual([
      'vaultsync_secretsync_ready{namespace="team-a",name="app"} 1',
      'vaultsync_secretsync_ready{namespace="team-a",name="db"} 0',
      'vaultsync_secretsync_ready{namespace="team-b",name="new"} 0',
    ]);
  });

  it('follows the cache: 1 → 0 when a SecretSync turns NotReady, back to 1, gone when deleted', async () => {
    const source = cache({ 'team-a/app': 'True', 'team-b/db': 'True' });
    const metrics = createMetrics(source, { defaultMetrics: false, perSecretSync: true });
    expect(readySeries(await scrape(metrics))).toContain('vaultsync_secretsync_ready{namespace="team-a",name="app"} 1');

    source.ready.set('team-a/app', 'False');
    expect(readySeries(await scrape(metrics))).toContain('vaultsync_secretsync_ready{namespace="team-a",name="app"} 0');

    source.ready.set('team-a/app', 'True');
    expect(readySeries(await scrape(metrics))).toContain('vaultsync_secretsync_ready{namespace="team-a",name="app"} 1');

    source.ready.delete('team-a/app');
    const after = await scrape(metrics);
    expect(readySeries(after)).toEqual(['vaultsync_secretsync_ready{namespace="team-b",name="db"} 1']);
    expect(after).not.toContain('name="app"');
  });
});
