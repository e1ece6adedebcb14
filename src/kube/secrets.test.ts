import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { SyncError } from '../errors.js';
import type { SecretObject } from '../controller/types.js';
import { kubeClients } from './client.js';
import { WriteLimiter } from './limiter.js';
import type { ReflectorTiming } from './reflector.js';
import { MANAGED_SELECTOR, ManagedSecrets } from './secrets.js';
import { FakeApiServer, listBody, sendJson, sendStatus, type Recorded } from './testing/fake-apiserver.js';
import { recordingLogger } from '../core/testing/logger.js';

const SECRETS = '/api/v1/secrets';
const NS_SECRETS = '/api/v1/namespaces/ns/secrets';
const FAST: Partial<ReflectorTiming> = { backoffInitialMs: 20, backoffMaxMs: 100, minHealthyWatchMs: 0 };

function secret(name: string, rv: string, owner = `ns/${name}-sync`, extra: Partial<SecretObject> = {}): SecretObject {
  return {
    metadata: {
      name,
      namespace: 'ns',
      uid: `uid-${name}`,
      resourceVersion: rv,
      labels: { 'app.kubernetes.io/managed-by': 'vaultsync' },
      annotations: { 'vaultsync.io/secretsync': owner },
    },
    type: 'Opaque',
    data: { KEY: Buffer.from('canary-value').toString('base64') },
    ...extra,
  };
}

let server: FakeApiServer;
let store: ManagedSecrets | undefined;
const log = recordingLogger();

beforeEach(async () => {
  server = await FakeApiServer.start();
});

afterEach(async () => {
  await store?.informer.stop();
  store = undefined;
  await server.close();
});

function managed(limits = { writeConcurrency: 4, writeQps: 100 }): ManagedSecrets {
  store = new ManagedSecrets({
    api: kubeClients(server.kubeConfig()).http,
    limiter: new WriteLimiter(limits),
    hashKey: Buffer.from('secrets-test-hash-key'),
    log,
    timing: FAST,
  });
  return store;
}

async function started(items: SecretObject[]): Promise<ManagedSecrets> {
  server.route('GET', SECRETS, (_req, res) => {
    sendJson(res, 200, listBody('100', items));
  });
  const s = managed();
  s.informer.start();
  await s.informer.waitForSync();
  return s;
}

const json = (r: Recorded | undefined): Record<string, unknown> =>
  JSON.parse(r?.body ?? 'null') as Record<string, unknown>;

describe('ManagedSecrets cache', () => {
  it('lists and watches only managed Secrets and indexes them by owner', async () => {
    const s = await started([secret('a', '90', 'ns/one'), secret('b', '91', 'ns/one'), secret('c', '92', 'ns/two')]);
    expect(server.received('GET', SECRETS)[0]?.query.get('labelSelector')).toBe(MANAGED_SELECTOR);
    const w = await server.nextWatch();
    expect(w.query.get('labelSelector')).toBe('app.kubernetes.io/managed-by=vaultsync');

    expect(
      s
        .listByOwner('ns/one')
        .map((x) => x.metadata.name)
        .sort(),
    ).toEqual(['a', 'b']);
    // The cache keeps a keyed digest of the data, never the data.
    const cached = s.getCached('ns', 'c');
    expect(cached?.dataDigest).toBe(s.digestData({ KEY: Buffer.from('canary-value').toString('base64') }));
    expect(JSON.stringify(cached)).not.toContain(Buffer.from('canary-value').toString('base64'));

    // The index follows every change: an annotation moving to another owner, and a delete.
    w.send('MODIFIED', secret('b', '101', 'ns/two'));
    w.send('DELETED', secret('c', '102', 'ns/two'));
    await vi.waitFor(() => {
      expect(s.listByOwner('ns/two').map((x) => x.metadata.name)).toEqual(['b']);
    });
    expect(s.listByOwner('ns/one').map((x) => x.metadata.name)).toEqual(['a']);
  });

  it('tells the owner of a changed, moved or deleted Secret', async () => {
    const s = managed();
    const owners: string[] = [];
    s.onOwnerChange((k) => owners.push(k));
    server.route('GET', SECRETS, (_req, res) => {
      sendJson(res, 200, listBody('100', [secret('a', '90', 'ns/one')]));
    });
    s.informer.start();
    await s.informer.waitForSync();
    const w = await server.nextWatch();
    w.send('MODIFIED', secret('a', '101', 'ns/two'));
    w.send('DELETED', secret('a', '102', 'ns/two'));
    await vi.waitFor(() => {
      expect(owners).toEqual(['ns/one', 'ns/two', 'ns/one', 'ns/two']);
    });
  });

  it('wakes no owner for the echo of its own write arriving before the answer, but does for any other change', async () => {
    const s = await started([secret('a', '90')]);
    const owners: string[] = [];
    s.onOwnerChange((k) => owners.push(k));
    const w = await server.nextWatch();
    const changed = (rv: string, value: string) =>
      secret('a', rv, undefined, { data: { KEY: Buffer.from(value).toString('base64') } });
    let answer: () => void = () => undefined;
    server.route('PUT', `${NS_SECRETS}/a`, (req, res) => {
      const body = json(req) as unknown as SecretObject;
      answer = () => {
        sendJson(res, 200, { ...body, metadata: { ...body.metadata, resourceVersion: '120' } });
      };
    });
    const writing = s.update(changed('90', 'new-value'));
    await vi.waitFor(() => {
      expect(server.received('PUT', `${NS_SECRETS}/a`)).toHaveLength(1);
    });
    w.send('MODIFIED', changed('120', 'new-value')); // the echo, before the answer
    w.send('ADDED', secret('z', '121', 'ns/other'));
    await vi.waitFor(() => {
      expect(s.getCached('ns', 'z')).toBeDefined();
    });
    expect(s.getCached('ns', 'a')?.metadata.resourceVersion).toBe('120'); // cached all the same
    expect(owners).toEqual(['ns/other']);
    w.send('MODIFIED', changed('121', 'edited-by-hand')); // someone else, while ours is in flight
    await vi.waitFor(() => {
      expect(owners).toEqual(['ns/other', 'ns/a-sync']);
    });
    answer();
    await writing;
    w.send('MODIFIED', changed('130', 'new-value')); // no write in flight: a change like any other
    await vi.waitFor(() => {
      expect(owners).toEqual(['ns/other', 'ns/a-sync', 'ns/a-sync']);
    });
  });

  it('keeps the object of its own write when an older watch event arrives later', async () => {
    const s = await started([secret('a', '90')]);
    const w = await server.nextWatch();
    server.route('PUT', `${NS_SECRETS}/a`, (req, res) => {
      const body = json(req) as unknown as SecretObject;
      sendJson(res, 200, { ...body, metadata: { ...body.metadata, resourceVersion: '120' } });
    });
    const written = await s.update(secret('a', '90'));
    expect(written.metadata.resourceVersion).toBe('120');
    expect(s.getCached('ns', 'a')?.metadata.resourceVersion).toBe('120');

    w.send('MODIFIED', secret('a', '110')); // an older change, still in flight when we wrote
    w.send('ADDED', secret('z', '121'));
    await vi.waitFor(() => {
      expect(s.getCached('ns', 'z')).toBeDefined();
    });
    expect(s.getCached('ns', 'a')?.metadata.resourceVersion).toBe('120');
    w.send('MODIFIED', secret('a', '130'));
    await vi.waitFor(() => {
      expect(s.getCached('ns', 'a')?.metadata.resourceVersion).toBe('130');
    });
  });

  it('does not let a late watch event bring back a Secret it deleted', async () => {
    const s = await started([secret('a', '90')]);
    const w = await server.nextWatch();
    server.route('DELETE', `${NS_SECRETS}/a`, (_req, res) => {
      sendJson(res, 200, secret('a', '95'));
    });
    await s.delete('ns', 'a', 'uid-a');
    expect(s.getCached('ns', 'a')).toBeUndefined();
    w.send('MODIFIED', secret('a', '93'));
    w.send('ADDED', secret('z', '96'));
    await vi.waitFor(() => {
      expect(s.getCached('ns', 'z')).toBeDefined();
    });
    expect(s.getCached('ns', 'a')).toBeUndefined();
  });
});

describe('ManagedSecrets writes', () => {
  it('creates and caches the returned Secret at once', async () => {
    const s = managed();
    server.route('POST', NS_SECRETS, (req, res) => {
      const body = json(req) as unknown as SecretObject;
      sendJson(res, 201, { ...body, metadata: { ...body.metadata, uid: 'new-uid', resourceVersion: '7' } });
    });
    const created = await s.create(secret('a', ''));
    const sent = json(server.received('POST', NS_SECRETS)[0]);
    expect(sent).toMatchObject({ apiVersion: 'v1', kind: 'Secret', type: 'Opaque' });
    expect(sent.data).toEqual({ KEY: Buffer.from('canary-value').toString('base64') });
    expect(created.metadata.uid).toBe('new-uid');
    expect(s.getCached('ns', 'a')?.metadata.resourceVersion).toBe('7');
    expect(s.listByOwner('ns/a-sync').map((x) => x.metadata.uid)).toEqual(['new-uid']);
  });

  it('sends resourceVersion on update and turns a conflict into KubernetesApiError 409', async () => {
    const s = managed();
    server.route('PUT', `${NS_SECRETS}/a`, (_req, res) => {
      sendStatus(res, 409, 'Conflict', 'the object has been modified; please apply your changes to the latest version');
    });
    const err: unknown = await s.update(secret('a', '42')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SyncError);
    expect(err).toMatchObject({ reason: 'KubernetesApiError', status: 409 });
    expect((err as Error).message).toBe(
      'update Secret ns/a failed (HTTP 409): the object has been modified; please apply your changes to the latest version',
    );
    expect(json(server.received('PUT', `${NS_SECRETS}/a`)[0])).toMatchObject({
      metadata: { resourceVersion: '42', uid: 'uid-a' },
    });
    expect(s.getCached('ns', 'a')).toBeUndefined();
  });

  it('reports a name already taken on create as status 409', async () => {
    const s = managed();
    server.route('POST', NS_SECRETS, (_req, res) => {
      sendStatus(res, 409, 'AlreadyExists', 'secrets "a" already exists');
    });
    await expect(s.create(secret('a', ''))).rejects.toMatchObject({ reason: 'KubernetesApiError', status: 409 });
  });

  it('deletes with a uid precondition; gone (404) and replaced (409) count as done', async () => {
    const s = managed();
    const answers = [404, 409, 500];
    server.route('DELETE', `${NS_SECRETS}/a`, (_req, res) => {
      const code = answers.shift() ?? 500;
      sendStatus(res, code, 'x', code === 409 ? 'Precondition failed: UID in precondition: uid-a' : `error ${code}`);
    });
    await s.delete('ns', 'a', 'uid-a');
    await s.delete('ns', 'a', 'uid-a');
    await expect(s.delete('ns', 'a', 'uid-a')).rejects.toMatchObject({ reason: 'KubernetesApiError', status: 500 });
    const sent = server.received('DELETE', `${NS_SECRETS}/a`);
    expect(sent).toHaveLength(3);
    expect(json(sent[0])).toMatchObject({ preconditions: { uid: 'uid-a' } });
  });

  it('reads live: 404 is undefined, other failures are errors', async () => {
    const s = managed();
    server.route('GET', `${NS_SECRETS}/present`, (_req, res) => {
      sendJson(res, 200, {
        ...secret('present', '5'),
        metadata: {
          ...secret('present', '5').metadata,
          creationTimestamp: '2024-01-01T00:00:00Z',
          deletionTimestamp: '2024-01-02T00:00:00Z',
        },
      });
    });
    server.route('GET', `${NS_SECRETS}/forbidden`, (_req, res) => {
      sendStatus(res, 403, 'Forbidden', 'secrets "forbidden" is forbidden');
    });
    expect(await s.get('ns', 'missing')).toBeUndefined();
    const got = await s.get('ns', 'present');
    expect(got?.metadata.deletionTimestamp).toBe('2024-01-02T00:00:00Z');
    expect(got?.metadata.annotations).toEqual({ 'vaultsync.io/secretsync': 'ns/present-sync' });
    await expect(s.get('ns', 'forbidden')).rejects.toMatchObject({ reason: 'KubernetesApiError', status: 403 });
  });

  it('runs writes within the concurrency limit', async () => {
    const s = managed({ writeConcurrency: 1, writeQps: 100 });
    let inFlight = 0;
    let most = 0;
    server.route('POST', NS_SECRETS, (req, res) => {
      inFlight++;
      most = Math.max(most, inFlight);
      setTimeout(() => {
        inFlight--;
        sendJson(res, 201, json(req));
      }, 30);
    });
    await Promise.all([s.create(secret('a', '')), s.create(secret('b', '')), s.create(secret('c', ''))]);
    expect(server.received('POST', NS_SECRETS)).toHaveLength(3);
    expect(most).toBe(1);
  });
});
