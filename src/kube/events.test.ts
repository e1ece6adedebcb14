import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { SecretSync } from '../api/index.js';
import { kubeClients } from './client.js';
import { KubeEventRecorder, type EventRecorderOptions } from './events.js';
import { FakeApiServer, sendJson, sendStatus } from './testing/fake-apiserver.js';
import { recordingLogger } from '../core/testing/logger.js';

const EVENTS = '/api/v1/namespaces/ns/events';
const ONE_EVENT = /^\/api\/v1\/namespaces\/ns\/events\/[^/]+$/;

function sync(name: string, uid: string): SecretSync {
  return {
    apiVersion: 'vaultsync.io/v1alpha1',
    kind: 'SecretSync',
    metadata: { namespace: 'ns', name, uid, resourceVersion: '3' },
    spec: {
      vault: { kv: { mount: 'secret', path: 'p' } },
      auth: { kubernetes: { role: 'r' } },
      target: { type: 'Opaque', immutable: false, deletionPolicy: 'Delete' },
      refresh: {},
    },
  };
}

let server: FakeApiServer;
let t: number;
const log = recordingLogger();

beforeEach(async () => {
  server = await FakeApiServer.start();
  t = Date.parse('2024-05-01T10:00:00Z');
  log.entries.length = 0;
  server.route('POST', EVENTS, (req, res) => {
    sendJson(res, 201, JSON.parse(req.body));
  });
  server.route('PATCH', ONE_EVENT, (req, res) => {
    sendJson(res, 200, JSON.parse(req.body));
  });
});
afterEach(async () => {
  await server.close();
});

function recorder(opts: Partial<EventRecorderOptions> = {}) {
  return new KubeEventRecorder({
    api: kubeClients(server.kubeConfig()).http,
    log,
    instance: 'vaultsync-0',
    now: () => t,
    ...opts,
  });
}

const bodies = (method: string, path: string | RegExp) =>
  server.received(method, path).map((r) => JSON.parse(r.body) as Record<string, unknown>);

describe('KubeEventRecorder', () => {
  it('writes nothing until `after` resolves (a push writing its Secrets), then every Event in order', async () => {
    let release: () => void = () => undefined;
    const held = new Promise<void>((r) => (release = r));
    const r = recorder({ after: () => held });
    r.record(sync('a', 'uid-a'), 'Normal', 'Synced', 'Updated Secret a');
    r.record(sync('b', 'uid-b'), 'Normal', 'Synced', 'Updated Secret b');
    await new Promise((res) => setTimeout(res, 50));
    expect(server.received('POST', EVENTS)).toHaveLength(0);
    release();
    await r.flush();
    expect(bodies('POST', EVENTS).map((e) => e.message)).toEqual(['Updated Secret a', 'Updated Secret b']);
  });

  it('creates an Event on the SecretSync with its uid and the reporting component', async () => {
    const r = recorder();
    r.record(sync('app', 'uid-1'), 'Warning', 'VaultForbidden', 'Vault denied read of secret/app');
    await r.flush();
    const [ev] = bodies('POST', EVENTS);
    expect(ev).toMatchObject({
      involvedObject: {
        kind: 'SecretSync',
        apiVersion: 'vaultsync.io/v1alpha1',
        name: 'app',
        namespace: 'ns',
        uid: 'uid-1',
      },
      type: 'Warning',
      reason: 'VaultForbidden',
      message: 'Vault denied read of secret/app',
      count: 1,
      firstTimestamp: '2024-05-01T10:00:00.000Z',
      lastTimestamp: '2024-05-01T10:00:00.000Z',
      reportingComponent: 'vaultsync',
      reportingInstance: 'vaultsync-0',
      source: { component: 'vaultsync' },
    });
    expect((ev?.metadata as { name: string }).name).toMatch(/^app\./);
  });

  it('patches count and lastTimestamp for a repeat instead of creating a second Event', async () => {
    const r = recorder();
    const s = sync('app', 'uid-1');
    r.record(s, 'Warning', 'VaultForbidden', 'denied');
    t += 60_000;
    r.record(s, 'Warning', 'VaultForbidden', 'denied');
    t += 60_000;
    r.record(s, 'Warning', 'VaultForbidden', 'denied');
    await r.flush();

    expect(server.received('POST', EVENTS)).toHaveLength(1);
    const created = (bodies('POST', EVENTS)[0]?.metadata as { name: string }).name;
    const patches = server.received('PATCH', ONE_EVENT);
    expect(patches.map((p) => p.path)).toEqual([`${EVENTS}/${created}`, `${EVENTS}/${created}`]);
    expect(patches[0]?.headers['content-type']).toBe('application/merge-patch+json');
    expect(bodies('PATCH', ONE_EVENT)).toEqual([
      { count: 2, lastTimestamp: '2024-05-01T10:01:00.000Z' },
      { count: 3, lastTimestamp: '2024-05-01T10:02:00.000Z' },
    ]);
  });

  it('creates separate Events for another message, another object, or after the window', async () => {
    const r = recorder({ aggregationWindowMs: 10 * 60_000 });
    r.record(sync('app', 'uid-1'), 'Warning', 'VaultForbidden', 'denied');
    r.record(sync('app', 'uid-1'), 'Warning', 'VaultForbidden', 'denied differently');
    r.record(sync('other', 'uid-2'), 'Warning', 'VaultForbidden', 'denied');
    t += 11 * 60_000;
    r.record(sync('app', 'uid-1'), 'Warning', 'VaultForbidden', 'denied');
    await r.flush();
    expect(server.received('POST', EVENTS)).toHaveLength(4);
    expect(server.received('PATCH', ONE_EVENT)).toHaveLength(0);
  });

  it('creates a new Event when the aggregated one has expired from the API server', async () => {
    server.route('PATCH', ONE_EVENT, (_req, res) => {
      sendStatus(res, 404, 'NotFound', 'events not found');
    });
    const r = recorder();
    r.record(sync('app', 'uid-1'), 'Normal', 'Synced', 'ok');
    r.record(sync('app', 'uid-1'), 'Normal', 'Synced', 'ok');
    await r.flush();
    expect(server.received('PATCH', ONE_EVENT)).toHaveLength(1);
    expect(bodies('POST', EVENTS).map((b) => b.count)).toEqual([1, 1]);
  });

  it('rate-limits events per object', async () => {
    const r = recorder({ burst: 2, refillIntervalMs: 60_000 });
    for (let i = 0; i < 5; i++) r.record(sync('app', 'uid-1'), 'Warning', 'R', `m${i}`);
    r.record(sync('other', 'uid-2'), 'Warning', 'R', 'm');
    t += 60_000; // one token back
    r.record(sync('app', 'uid-1'), 'Warning', 'R', 'later');
    await r.flush();
    const messages = bodies('POST', EVENTS).map(
      (b) => `${(b.involvedObject as { uid: string }).uid}:${String(b.message)}`,
    );
    expect(messages).toEqual(['uid-1:m0', 'uid-1:m1', 'uid-2:m', 'uid-1:later']);
  });

  it('bounds Normal events of all objects together, and leaves Warnings to the per-object bound', async () => {
    const r = recorder({ normalBurst: 3, normalPerSecond: 2 });
    for (let i = 0; i < 6; i++) r.record(sync(`app-${i}`, `uid-${i}`), 'Normal', 'Synced', 'Created Secret');
    r.record(sync('app-9', 'uid-9'), 'Warning', 'VaultForbidden', 'denied');
    t += 500; // one Normal token back
    r.record(sync('app-7', 'uid-7'), 'Normal', 'Synced', 'Created Secret');
    r.record(sync('app-8', 'uid-8'), 'Normal', 'Synced', 'Created Secret');
    await r.flush();
    const sent = bodies('POST', EVENTS).map((b) => `${String(b.type)}:${(b.involvedObject as { uid: string }).uid}`);
    expect(sent).toEqual(['Normal:uid-0', 'Normal:uid-1', 'Normal:uid-2', 'Warning:uid-9', 'Normal:uid-7']);
  });

  it('never throws when the API server fails, logs, and close() drains then drops', async () => {
    server.route('POST', EVENTS, (_req, res) => {
      sendStatus(res, 500, 'InternalError', 'boom');
    });
    const r = recorder();
    expect(() => {
      r.record(sync('app', 'uid-1'), 'Warning', 'R', 'm');
    }).not.toThrow();
    await r.close();
    expect(log.entries.filter((e) => e.level === 'warn' && e.msg === 'event not recorded')).toHaveLength(1);
    r.record(sync('app', 'uid-1'), 'Warning', 'R', 'after close');
    await r.flush();
    expect(server.received('POST', EVENTS)).toHaveLength(1);
  });
});
