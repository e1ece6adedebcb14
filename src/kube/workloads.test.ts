import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SyncError } from '../errors.js';
import { kubeClients } from './client.js';
import { WriteLimiter } from './limiter.js';
import { KubeWorkloadPatcher } from './workloads.js';
import { FakeApiServer, sendJson, sendStatus } from './testing/fake-apiserver.js';

let server: FakeApiServer;
beforeEach(async () => {
  server = await FakeApiServer.start();
});
afterEach(async () => {
  await server.close();
});

const patcher = () =>
  new KubeWorkloadPatcher({
    api: kubeClients(server.kubeConfig()).http,
    limiter: new WriteLimiter({ writeConcurrency: 4, writeQps: 100 }),
  });

describe('KubeWorkloadPatcher', () => {
  it.each([
    ['Deployment', 'deployments'],
    ['StatefulSet', 'statefulsets'],
    ['DaemonSet', 'daemonsets'],
  ] as const)('merge-patches the pod template annotations of a %s', async (kind, resource) => {
    const seen: { body: unknown; type: string | undefined }[] = [];
    server.route('PATCH', `/apis/apps/v1/namespaces/ns/${resource}/web`, (req, res) => {
      seen.push({ body: JSON.parse(req.body), type: req.headers['content-type'] });
      sendJson(res, 200, {});
    });
    const r = await patcher().patchTemplateAnnotations({ namespace: 'ns', kind, name: 'web' }, { a: '1' });
    expect(r).toBe('patched');
    expect(seen).toEqual([
      {
        body: { spec: { template: { metadata: { annotations: { a: '1' } } } } },
        type: 'application/merge-patch+json',
      },
    ]);
  });

  it('a missing workload is "missing"; a refusal throws KubernetesApiError with the status', async () => {
    server.route('PATCH', '/apis/apps/v1/namespaces/ns/deployments/gone', (_req, res) =>
      sendStatus(res, 404, 'NotFound', 'deployments.apps "gone" not found'),
    );
    server.route('PATCH', '/apis/apps/v1/namespaces/ns/deployments/denied', (_req, res) =>
      sendStatus(res, 403, 'Forbidden', 'forbidden'),
    );
    const p = patcher();
    expect(await p.patchTemplateAnnotations({ namespace: 'ns', kind: 'Deployment', name: 'gone' }, {})).toBe('missing');
    const err: unknown = await p
      .patchTemplateAnnotations({ namespace: 'ns', kind: 'Deployment', name: 'denied' }, {})
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SyncError);
    expect(err).toMatchObject({ reason: 'KubernetesApiError', status: 403 });
  });
});
