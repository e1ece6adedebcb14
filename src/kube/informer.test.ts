import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { SecretSync } from '../api/index.js';
import { kubeClients } from './client.js';
import { Informer } from './informer.js';
import type { ReflectorTiming } from './reflector.js';
import { secretSyncSource, toSecretSync } from './secretsyncs.js';
import { FakeApiServer, listBody, sendJson, sendStatus } from './testing/fake-apiserver.js';
import { recordingLogger } from '../core/testing/logger.js';

const ALL = '/apis/vaultsync.io/v1alpha1/secretsyncs';
const nsPath = (ns: string) => `/apis/vaultsync.io/v1alpha1/namespaces/${ns}/secretsyncs`;

const FAST: Partial<ReflectorTiming> = {
  watchTimeoutSeconds: { min: 60, max: 60 },
  watchdogSlackMs: 1_000,
  backoffInitialMs: 20,
  backoffMaxMs: 100,
  minHealthyWatchMs: 0,
};

function sync(ns: string, name: string, rv: string): unknown {
  return {
    apiVersion: 'vaultsync.io/v1alpha1',
    kind: 'SecretSync',
    metadata: { namespace: ns, name, uid: `uid-${name}`, resourceVersion: rv, managedFields: [{ manager: 'kubectl' }] },
    spec: { vault: { kv: { mount: 'secret', path: name } } },
  };
}

interface Calls {
  add: string[];
  update: string[];
  delete: string[];
}

let server: FakeApiServer;
let informer: Informer<SecretSync> | undefined;
const log = recordingLogger();

beforeEach(async () => {
  server = await FakeApiServer.start();
  log.entries.length = 0;
});

afterEach(async () => {
  await informer?.stop();
  informer = undefined;
  await server.close();
});

function start(opts: { namespaces?: string[]; labelSelector?: string; timing?: Partial<ReflectorTiming> } = {}) {
  const { http } = kubeClients(server.kubeConfig());
  const inf = new Informer<SecretSync>({
    name: 'secretsyncs',
    api: http,
    source: secretSyncSource(http),
    transform: toSecretSync,
    namespaces: opts.namespaces,
    labelSelector: opts.labelSelector,
    log,
    timing: { ...FAST, ...opts.timing },
  });
  const calls: Calls = { add: [], update: [], delete: [] };
  inf.addHandlers({
    add: (key) => calls.add.push(key),
    update: (key) => calls.update.push(key),
    delete: (key) => calls.delete.push(key),
  });
  informer = inf;
  inf.start();
  return { inf, calls };
}

describe('Informer', () => {
  it('fills the cache from the initial list, then watches from its resourceVersion', async () => {
    server.route('GET', ALL, (_req, res) => {
      sendJson(res, 200, listBody('100', [sync('ns1', 'a', '90'), sync('ns1', 'b', '95')]));
    });
    const { inf, calls } = start();
    expect(inf.hasSynced()).toBe(false);
    await inf.waitForSync(AbortSignal.timeout(5_000));

    expect(inf.hasSynced()).toBe(true);
    expect(calls.add.sort()).toEqual(['ns1/a', 'ns1/b']);
    expect(inf.get('ns1/a')?.spec.vault.kv?.path).toBe('a');
    // managedFields are dropped from the cache: memory, and nothing reads them.
    expect(inf.get('ns1/a')?.metadata).not.toHaveProperty('managedFields');
    expect(server.received('GET', ALL)[0]?.query.get('limit')).toBe('500');

    const w = await server.nextWatch();
    expect(w.path).toBe(ALL);
    expect(w.query.get('resourceVersion')).toBe('100');
    expect(w.query.get('allowWatchBookmarks')).toBe('true');
    expect(w.query.get('timeoutSeconds')).toBe('60');
  });

  it('applies watch events, calls handlers with keys and resumes from the last resourceVersion', async () => {
    server.route('GET', ALL, (_req, res) => {
      sendJson(res, 200, listBody('100', [sync('ns1', 'a', '90'), sync('ns1', 'b', '95')]));
    });
    const { inf, calls } = start();
    await inf.waitForSync();
    const w = await server.nextWatch();

    w.send('ADDED', sync('ns1', 'c', '101'));
    w.send('MODIFIED', sync('ns1', 'a', '102'));
    w.send('DELETED', sync('ns1', 'b', '103'));
    await vi.waitFor(() => {
      expect(calls.delete).toEqual(['ns1/b']);
    });
    expect(calls.add).toContain('ns1/c');
    expect(calls.update).toEqual(['ns1/a']);
    expect(inf.get('ns1/a')?.metadata.resourceVersion).toBe('102');
    expect(inf.get('ns1/b')).toBeUndefined();
    expect(
      inf
        .list()
        .map((s) => s.metadata.name)
        .sort(),
    ).toEqual(['a', 'c']);

    w.send('BOOKMARK', { kind: 'SecretSync', metadata: { resourceVersion: '110' } });
    w.end();
    const next = await server.nextWatch();
    expect(next.query.get('resourceVersion')).toBe('110');
    expect(server.received('GET', ALL).filter((r) => r.query.get('watch') !== 'true')).toHaveLength(1);
  });

  it('relists on 410 Gone and emits deletes and adds for the difference', async () => {
    let listed = [sync('ns1', 'a', '90'), sync('ns1', 'b', '95')];
    let listRv = '100';
    server.route('GET', ALL, (_req, res) => {
      sendJson(res, 200, listBody(listRv, listed));
    });
    const { inf, calls } = start();
    await inf.waitForSync();
    const w = await server.nextWatch();

    listed = [sync('ns1', 'a', '90'), sync('ns1', 'c', '120')];
    listRv = '130';
    w.send('ERROR', { kind: 'Status', code: 410, reason: 'Expired', message: 'too old resource version: 100 (125)' });

    await vi.waitFor(() => {
      expect(calls.delete).toEqual(['ns1/b']);
    });
    expect(calls.add).toContain('ns1/c');
    expect(calls.update).toEqual([]); // a is unchanged: same resourceVersion
    expect(inf.get('ns1/b')).toBeUndefined();
    const next = await server.nextWatch();
    expect(next.query.get('resourceVersion')).toBe('130');
  });

  it('relists when the watch request itself answers 410, and resumes an ended watch without relisting', async () => {
    server.route('GET', ALL, (_req, res) => {
      sendJson(res, 200, listBody('100', [sync('ns1', 'a', '90')]));
    });
    const lists = () => server.received('GET', ALL).filter((r) => r.query.get('watch') !== 'true').length;
    server.failNextWatch(410);
    const { inf } = start();
    await inf.waitForSync();
    const w = await server.nextWatch();
    expect(lists()).toBe(2);

    w.end();
    const next = await server.nextWatch();
    expect(next.query.get('resourceVersion')).toBe('100');
    expect(lists()).toBe(2);
  });

  it('aborts a watch that stays silent past its timeout and reconnects from the same resourceVersion', async () => {
    server.route('GET', ALL, (_req, res) => {
      sendJson(res, 200, listBody('100', [sync('ns1', 'a', '90')]));
    });
    const { inf } = start({ timing: { watchTimeoutSeconds: { min: 1, max: 1 }, watchdogSlackMs: 200 } });
    await inf.waitForSync();
    const silent = await server.nextWatch();
    const opened = Date.now();
    expect(silent.query.get('timeoutSeconds')).toBe('1');

    const next = await server.nextWatch(5_000);
    expect(Date.now() - opened).toBeGreaterThanOrEqual(1_100);
    expect(next.query.get('resourceVersion')).toBe('100');
    await silent.closed; // the dead connection was torn down by the client
    expect(log.entries.some((e) => e.level === 'warn' && e.msg?.includes('abandoned') === true)).toBe(true);
    expect(server.received('GET', ALL).filter((r) => r.query.get('watch') !== 'true')).toHaveLength(1);
  });

  it('keeps watching from the same resourceVersion after a non-410 ERROR event', async () => {
    server.route('GET', ALL, (_req, res) => {
      sendJson(res, 200, listBody('100', []));
    });
    const { inf } = start();
    await inf.waitForSync();
    const w = await server.nextWatch();
    w.send('ADDED', sync('ns1', 'a', '105'));
    w.send('ERROR', { kind: 'Status', code: 500, message: 'internal error' });
    const next = await server.nextWatch();
    expect(next.query.get('resourceVersion')).toBe('105');
    expect(server.received('GET', ALL).filter((r) => r.query.get('watch') !== 'true')).toHaveLength(1);
  });

  it('lists and watches each namespace with the label selector; a relist touches only its namespace', async () => {
    const listed: Record<string, unknown[]> = { ns1: [sync('ns1', 'a', '90')], ns2: [sync('ns2', 'x', '91')] };
    for (const ns of ['ns1', 'ns2']) {
      server.route('GET', nsPath(ns), (_req, res) => {
        sendJson(res, 200, listBody('100', listed[ns] ?? []));
      });
    }
    const { inf, calls } = start({ namespaces: ['ns1', 'ns2'], labelSelector: 'team=blue' });
    await inf.waitForSync();
    const watches = [await server.nextWatch(), await server.nextWatch()];

    expect(watches.map((w) => w.path).sort()).toEqual([nsPath('ns1'), nsPath('ns2')]);
    for (const w of watches) expect(w.query.get('labelSelector')).toBe('team=blue');
    for (const ns of ['ns1', 'ns2']) {
      expect(server.received('GET', nsPath(ns))[0]?.query.get('labelSelector')).toBe('team=blue');
    }
    expect(server.received('GET', ALL)).toHaveLength(0);

    listed.ns1 = [];
    const ns1 = watches.find((w) => w.path === nsPath('ns1'))!;
    ns1.send('ERROR', { kind: 'Status', code: 410, message: 'gone' });
    await vi.waitFor(() => {
      expect(calls.delete).toEqual(['ns1/a']);
    });
    expect(inf.get('ns2/x')).toBeDefined();
  });

  it('retries a failing list with backoff until it syncs', async () => {
    let attempts = 0;
    server.route('GET', ALL, (_req, res) => {
      attempts++;
      if (attempts < 3) sendStatus(res, 500, 'InternalError', 'etcd unavailable');
      else sendJson(res, 200, listBody('100', [sync('ns1', 'a', '90')]));
    });
    const { inf } = start();
    await inf.waitForSync(AbortSignal.timeout(5_000));
    expect(attempts).toBe(3);
    const warnings = log.entries.filter((e) => e.level === 'warn');
    expect(warnings).toHaveLength(2);
    expect(warnings[0]?.obj).toMatchObject({ status: 500, err: 'etcd unavailable', relist: true });
  });

  it('follows continue tokens across list pages', async () => {
    server.route('GET', ALL, (req, res) => {
      if (req.query.get('continue') === 'page2') sendJson(res, 200, listBody('100', [sync('ns1', 'b', '92')]));
      else sendJson(res, 200, listBody('100', [sync('ns1', 'a', '90')], 'page2'));
    });
    const { inf } = start({ timing: { pageSize: 1 } });
    await inf.waitForSync();
    expect(inf.get('ns1/a')).toBeDefined();
    expect(inf.get('ns1/b')).toBeDefined();
    expect(server.received('GET', ALL)[0]?.query.get('limit')).toBe('1');
  });

  it('waitForSync rejects when its signal aborts first', async () => {
    server.route('GET', ALL, (_req, res) => {
      sendStatus(res, 503, 'ServiceUnavailable', 'not yet');
    });
    const { inf } = start();
    await expect(inf.waitForSync(AbortSignal.timeout(100))).rejects.toThrow();
    expect(inf.hasSynced()).toBe(false);
  });

  it('reports progress only while lists and watches make progress', async () => {
    server.route('GET', ALL, (_req, res) => {
      sendJson(res, 200, listBody('100', []));
    });
    const { inf } = start();
    await inf.waitForSync();
    const w = await server.nextWatch();
    const afterSync = inf.lastProgressAt();
    await new Promise((r) => setTimeout(r, 20));
    w.send('BOOKMARK', { metadata: { resourceVersion: '101' } });
    await vi.waitFor(() => {
      expect(inf.lastProgressAt()).toBeGreaterThan(afterSync);
    });
  });
});
