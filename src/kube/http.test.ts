import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { KubeJsonClient, LineSplitter, type WatchEvent } from './http.js';
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

  it('rejects a non-2xx answer as a KubeApiError with the status and the Status message', async () => {
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
    const c = new KubeJsonClient(server.kubeConfig('kubeconfig-token').withTokenFile(file));
    server.route('GET', '/x', (_req, res) => {
      sendJson(res, 200, {});
    });
    await c.request({ method: 'GET', path: '/x' });
    c.close();
    expect(server.requests.at(-1)?.headers.authorization).toBe('Bearer sa-token-from-file');
  });

  it('watches: events in order, watch=true with the query, the end of the stream resolves', async () => {
    const events: WatchEvent[] = [];
    const ac = new AbortController();
    const done = client.watch(
      { path: '/api/v1/secrets', query: { resourceVersion: '5', allowWatchBookmarks: 'true' }, signal: ac.signal },
      (e) => events.push(e),
    );
    const w = await server.nextWatch();
    expect(w.query.get('watch')).toBe('true');
    expect(w.query.get('resourceVersion')).toBe('5');
    w.send('ADDED', { metadata: { name: 'a', resourceVersion: '6' } });
    w.send('BOOKMARK', { metadata: { resourceVersion: '7' } });
    w.end();
    await done;
    expect(events.map((e) => e.type)).toEqual(['ADDED', 'BOOKMARK']);
    expect(server.requests.at(-1)?.headers.authorization).toBe('Bearer test-token');
  });

  it('keeps watches off the request pool: open watches beyond its size do not block requests', async () => {
    const small = new KubeJsonClient(server.kubeConfig(), 2);
    server.route('GET', '/x', (_req, res) => {
      sendJson(res, 200, { ok: true });
    });
    const ac = new AbortController();
    const watching = [1, 2, 3].map((i) =>
      small
        .watch({ path: `/api/v1/namespaces/n${i}/secrets`, signal: ac.signal }, () => undefined)
        .catch(() => 'ended'),
    );
    for (let i = 0; i < 3; i++) await server.nextWatch();
    expect(await small.request({ method: 'GET', path: '/x', timeoutMs: 2_000 })).toEqual({ ok: true });
    ac.abort();
    expect(await Promise.all(watching)).toEqual(['ended', 'ended', 'ended']);
    small.close();
  });

  it('rejects a watch answered with an error status as a KubeApiError (410 Gone → relist)', async () => {
    server.failNextWatch(410);
    const err: unknown = await client.watch({ path: '/api/v1/secrets' }, () => undefined).catch((e: unknown) => e);
    expect(apiStatus(err)).toBe(410);
  });

  it('ends a watch when its signal aborts, with the reason', async () => {
    const ac = new AbortController();
    const pending = client.watch({ path: '/api/v1/secrets', signal: ac.signal }, () => undefined);
    const w = await server.nextWatch();
    ac.abort(new Error('stopping'));
    await expect(pending).rejects.toThrow('stopping');
    await w.closed;
  });

  it('fails a watch whose stream is not JSON lines instead of skipping what it cannot read', async () => {
    const events: WatchEvent[] = [];
    const pending = client.watch({ path: '/api/v1/secrets' }, (e) => events.push(e));
    const w = await server.nextWatch();
    w.raw('{"type":"ADDED","obj');
    w.raw('ect":{}}\n<html>proxy error</html>\n');
    await expect(pending).rejects.toThrow(SyntaxError);
    expect(events).toEqual([{ type: 'ADDED', object: {} }]);
    await w.closed;
  });
});

describe('LineSplitter', () => {
  it('splits lines cut at every byte boundary, multi-byte characters included', () => {
    const text = `${JSON.stringify({ type: 'ADDED', object: { v: 'ü€𝄞' } })}\n${JSON.stringify({ type: 'DELETED', object: {} })}\n`;
    const bytes = Buffer.from(text);
    for (let cut = 0; cut <= bytes.length; cut++) {
      const lines: string[] = [];
      const s = new LineSplitter((l) => lines.push(l));
      s.write(bytes.subarray(0, cut));
      s.write(bytes.subarray(cut));
      s.end();
      expect(lines.map((l) => JSON.parse(l) as unknown)).toEqual([
        { type: 'ADDED', object: { v: 'ü€𝄞' } },
        { type: 'DELETED', object: {} },
      ]);
    }
  });

  it('keeps a last line without a newline and refuses a line past its bound', () => {
    const lines: string[] = [];
    const s = new LineSplitter((l) => lines.push(l), 8);
    s.write(Buffer.from('{"a":1}\n{"b"'));
    s.write(Buffer.from(':2}'));
    s.end();
    expect(lines).toEqual(['{"a":1}', '{"b":2}']);
    expect(() => {
      s.write(Buffer.from('123456789'));
    }).toThrow('longer than 8 bytes');
  });
});
