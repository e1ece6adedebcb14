import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { kubeClients } from './client.js';
import { loadHashKey } from './hashkey.js';
import { FakeApiServer, sendJson, sendStatus } from './testing/fake-apiserver.js';
import { recordingLogger } from '../core/testing/logger.js';

const SECRET = '/api/v1/namespaces/vaultsync/secrets/vaultsync-hash-key';
const CREATE = '/api/v1/namespaces/vaultsync/secrets';

let server: FakeApiServer;
beforeEach(async () => {
  server = await FakeApiServer.start();
});
afterEach(async () => {
  await server.close();
});

const log = recordingLogger();
const load = (file?: string) =>
  loadHashKey({
    file,
    secret: { namespace: 'vaultsync', name: 'vaultsync-hash-key' },
    api: kubeClients(server.kubeConfig()).http,
    log,
  });

const keySecret = (key: Buffer) => ({
  apiVersion: 'v1',
  kind: 'Secret',
  metadata: { name: 'vaultsync-hash-key', namespace: 'vaultsync' },
  data: { 'hmac-key': key.toString('base64') },
});

describe('loadHashKey', () => {
  it('reads the key from a file without touching the API server', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'hashkey-'));
    const file = join(dir, 'key');
    const key = Buffer.alloc(32, 7);
    await writeFile(file, key);
    expect(await load(file)).toEqual(key);
    expect(server.requests).toHaveLength(0);
  });

  it('refuses a key that is too short', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'hashkey-'));
    const file = join(dir, 'key');
    await writeFile(file, 'short');
    await expect(load(file)).rejects.toThrow(/at least 16/);
  });

  it('reads an existing Secret', async () => {
    const key = Buffer.alloc(32, 1);
    server.route('GET', SECRET, (_req, res) => {
      sendJson(res, 200, keySecret(key));
    });
    expect(await load()).toEqual(key);
    expect(server.received('POST', CREATE)).toHaveLength(0);
  });

  it('creates a missing Secret with 32 random bytes and returns them', async () => {
    server.route('POST', CREATE, (req, res) => {
      sendJson(res, 201, JSON.parse(req.body));
    });
    const key = await load();
    expect(key).toHaveLength(32);
    const body = JSON.parse(server.received('POST', CREATE)[0]?.body ?? '') as ReturnType<typeof keySecret>;
    expect(Buffer.from(body.data['hmac-key'], 'base64')).toEqual(key);
    expect(body.metadata).toMatchObject({ name: 'vaultsync-hash-key', namespace: 'vaultsync' });
    expect(JSON.stringify(body.metadata)).not.toContain('managed-by');
  });

  it('takes the key of the replica that created it first (409, read again)', async () => {
    const theirs = Buffer.alloc(32, 9);
    let created = false;
    server.route('GET', SECRET, (_req, res) => {
      if (created) sendJson(res, 200, keySecret(theirs));
      else sendStatus(res, 404, 'NotFound', 'not found');
    });
    server.route('POST', CREATE, (_req, res) => {
      created = true; // the other replica won the race just before us
      sendStatus(res, 409, 'AlreadyExists', 'secrets "vaultsync-hash-key" already exists');
    });
    expect(await load()).toEqual(theirs);
    expect(server.received('GET', SECRET)).toHaveLength(2);
  });

  it('fails on a Secret without the key instead of overwriting it', async () => {
    server.route('GET', SECRET, (_req, res) => {
      sendJson(res, 200, { ...keySecret(Buffer.alloc(1)), data: {} });
    });
    await expect(load()).rejects.toThrow(/has no data.hmac-key/);
  });
});
