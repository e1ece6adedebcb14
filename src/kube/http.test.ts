import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { KubeJsonClient } from './http.js';
import { useTokenFile } from './client.js';
import { apiErrorDetail, apiStatus } from './request.js';
import { FakeApiServer, sendJson, sendStatus } from './testing/fake-apiserver.js';

let server: FakeApiServer;
let client: KubeJsonClient;
beforeEach(async () => {
  server = await FakeApiServer.start();
  client = new KubeJsonClient(server.kubeConfig());
});
afterEach(async () => {
  client.close();
  await server.close();
});

describe('KubeJsonClient', () => {
  it('sends JSON with the kubeconfig credentials and returns the parsed answer', async () => {
    server.route('PATCH', '/apis/g/v1/namespaces/n%20s/things/a/status', (req, res) => {
      sendJson(res, 200, { got: JSON.parse(req.body) as unknown, type: req.headers['content-type'] });
    });
    const got = await client.request({
      method: 'PATCH',
      path: `/apis/g/v1/namespaces/${encodeURIComponent('n s')}/things/a/status`,
      body: { status: { x: 1 } },
      contentType: 'application/merge-patch+json',
    });
    expect(got).toEqual({ got: { status: { x: 1 } }, type: 'application/merge-patch+json' });
    expect(server.requests[0]?.headers.authorization).toBe('Bearer test-token');
  });

  it('passes query parameters and leaves out undefined ones', async () => {
    server.route('GET', '/api/v1/secrets', (_req, res) => {
      sendJson(res, 200, { items: [], metadata: { resourceVersion: '1' } });
    });
    await client.request({
      method: 'GET',
      path: '/api/v1/secrets',
      query: { labelSelector: 'a=b', limit: 100, continue: undefined },
    });
    const q = server.requests[0]?.query;
    expect(q?.get('labelSelector')).toBe('a=b');
    expect(q?.get('limit')).toBe('100');
    expect(q?.has('continue')).toBe(false);
  });

  it('reuses keep-alive connections across requests', async () => {
    let connections = 0;
    server.server.on('connection', () => connections++);
    server.route('GET', '/api/v1/namespaces/ns/secrets/s', (_req, res) => {
      sendJson(res, 200, { metadata: { name: 's' } });
    });
    for (let i = 0; i < 20; i++) await client.request({ method: 'GET', path: '/api/v1/namespaces/ns/secrets/s' });
    expect(server.requests).toHaveLength(20);
    expect(connections).toBe(1);
  });

  it('rejects a non-2xx answer as an ApiException with the status and the Status message', async () => {
    server.route('GET', '/api/v1/namespaces/ns/secrets/x', (_req, res) => {
      sendStatus(res, 403, 'Forbidden', 'secrets "x" is forbidden');
    });
    const err: unknown = await client
      .request({ method: 'GET', path: '/api/v1/namespaces/ns/secrets/x' })
      .catch((e: unknown) => e);
    expect(apiStatus(err)).toBe(403);
    expect(apiErrorDetail(err)).toBe('secrets "x" is forbidden');
  });

  it('ends a request at its timeout and at an abort, with no status', async () => {
    server.route('GET', '/slow', () => {
      // never answers
    });
    const timedOut: unknown = await client
      .request({ method: 'GET', path: '/slow', timeoutMs: 50 })
      .catch((e: unknown) => e);
    expect(apiStatus(timedOut)).toBeUndefined();
    expect(String(timedOut)).toContain('no answer within 50 ms');
    const ac = new AbortController();
    const pending = client.request({ method: 'GET', path: '/slow', signal: ac.signal });
    ac.abort(new Error('stopping'));
    await expect(pending).rejects.toThrow('stopping');
  });

  it('reads the bearer token from a token file as it rotates', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'token-'));
    const file = join(dir, 'token');
    await writeFile(file, 'sa-token-from-file\n');
    const kc = server.kubeConfig('kubeconfig-token');
    useTokenFile(kc, file);
    const c = new KubeJsonClient(kc);
    server.route('GET', '/x', (_req, res) => {
      sendJson(res, 200, {});
    });
    await c.request({ method: 'GET', path: '/x' });
    c.close();
    expect(server.requests.at(-1)?.headers.authorization).toBe('Bearer sa-token-from-file');
  });
});
