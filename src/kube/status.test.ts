import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { SecretSync } from '../api/index.js';
import { SyncError } from '../errors.js';
import { kubeClients } from './client.js';
import { WriteLimiter } from './limiter.js';
import { KubeStatusWriter, statusMergePatch } from './status.js';
import { FakeApiServer, sendJson, sendStatus } from './testing/fake-apiserver.js';

const STATUS = '/apis/vaultsync.io/v1alpha1/namespaces/ns/secretsyncs/name/status';

const sync: SecretSync = {
  apiVersion: 'vaultsync.io/v1alpha1',
  kind: 'SecretSync',
  metadata: { namespace: 'ns', name: 'name', uid: 'u1', resourceVersion: '5' },
  spec: {
    vault: { kv: { mount: 'secret', path: 'app' } },
    auth: { kubernetes: { role: 'r' } },
    target: { type: 'Opaque', immutable: false, deletionPolicy: 'Delete' },
    refresh: {},
  },
  status: { observedGeneration: 1, vaultVersion: 3, secretName: 'name' },
};

const ready = {
  observedGeneration: 2,
  secretName: 'name',
  conditions: [
    {
      type: 'Ready',
      status: 'False' as const,
      reason: 'VaultForbidden',
      message: 'denied',
      lastTransitionTime: '2024-01-01T00:00:00Z',
    },
  ],
};

let server: FakeApiServer;
beforeEach(async () => {
  server = await FakeApiServer.start();
});
afterEach(async () => {
  await server.close();
});

function writer(cached: SecretSync[] = []) {
  const kc = server.kubeConfig();
  return new KubeStatusWriter({
    api: kubeClients(kc).http,
    limiter: new WriteLimiter({ writeConcurrency: 4, writeQps: 100 }),
    cache: { applyLocalWrite: (o) => cached.push(o) },
  });
}

describe('KubeStatusWriter', () => {
  it('merge-patches the status subresource, nulling fields that are no longer set', async () => {
    server.route('PATCH', STATUS, (req, res) => {
      const patch = JSON.parse(req.body) as { status: object };
      sendJson(res, 200, { ...sync, metadata: { ...sync.metadata, resourceVersion: '6' }, status: patch.status });
    });
    const cached: SecretSync[] = [];
    await writer(cached).patchStatus(sync, ready);

    const [req] = server.received('PATCH', STATUS);
    expect(req?.headers['content-type']).toBe('application/merge-patch+json');
    expect(req?.headers.authorization).toBe('Bearer test-token');
    expect(JSON.parse(req?.body ?? '')).toEqual({ status: { ...ready, vaultVersion: null } });
    expect(cached.map((o) => o.metadata.resourceVersion)).toEqual(['6']);
  });

  it('treats a SecretSync deleted meanwhile (404) as done', async () => {
    server.route('PATCH', STATUS, (_req, res) => {
      sendStatus(res, 404, 'NotFound', 'secretsyncs.vaultsync.io "name" not found');
    });
    await expect(writer().patchStatus(sync, ready)).resolves.toBeUndefined();
  });

  it('reports other failures as KubernetesApiError with verb, object and status', async () => {
    server.route('PATCH', STATUS, (_req, res) => {
      sendStatus(res, 422, 'Invalid', 'status.conditions[0].reason: Invalid value');
    });
    const err: unknown = await writer()
      .patchStatus(sync, ready)
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SyncError);
    expect(err).toMatchObject({ reason: 'KubernetesApiError', status: 422 });
    expect((err as Error).message).toBe(
      'patch status of SecretSync ns/name failed (HTTP 422): status.conditions[0].reason: Invalid value',
    );
  });
});

describe('statusMergePatch', () => {
  it('sends desired fields and null for fields to clear', () => {
    expect(statusMergePatch({ vaultVersion: 1, secretName: 'a' }, { secretName: 'b' })).toEqual({
      secretName: 'b',
      vaultVersion: null,
    });
    expect(statusMergePatch(undefined, { secretName: 'b' })).toEqual({ secretName: 'b' });
  });
});
