import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createKube, kubeClients, type Kube } from './client.js';
import { FakeApiServer, sendJson } from './testing/fake-apiserver.js';
import { recordingLogger } from '../core/testing/logger.js';

let server: FakeApiServer;
beforeEach(async () => {
  server = await FakeApiServer.start();
  server.route('GET', '/api/v1/namespaces/ns/secrets/s', (_req, res) => {
    sendJson(res, 200, { metadata: { name: 's', namespace: 'ns' } });
  });
});
afterEach(async () => {
  await server.close();
});

const lastAuth = () => server.requests.at(-1)?.headers.authorization;

describe('createKube', () => {
  it('loads a kubeconfig file and selects the given context', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kubeconfig-'));
    const file = join(dir, 'config');
    await writeFile(
      file,
      `apiVersion: v1
kind: Config
clusters:
- name: fake
  cluster: {server: "${server.url}", insecure-skip-tls-verify: true}
- name: elsewhere
  cluster: {server: "http://127.0.0.1:1", insecure-skip-tls-verify: true}
users:
- name: one
  user: {token: token-one}
- name: two
  user: {token: token-two}
contexts:
- name: first
  context: {cluster: elsewhere, user: one}
- name: second
  context: {cluster: fake, user: two}
current-context: first
`,
    );
    const log = recordingLogger();
    const kube = createKube({ kubeconfig: file, context: 'second', log });
    await readSecret(kube);
    expect(lastAuth()).toBe('Bearer token-two');
    expect(JSON.stringify(log.entries)).not.toContain('token-two');
  });

  it('replaces the user credentials with the token file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'token-'));
    const file = join(dir, 'token');
    await writeFile(file, 'sa-token-from-file\n');
    await readSecret(kubeClients(server.kubeConfig('kubeconfig-token').withTokenFile(file)));
    expect(lastAuth()).toBe('Bearer sa-token-from-file');
  });

  it('logs where it connects but never the token file contents', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kubeconfig-'));
    const file = join(dir, 'config');
    await writeFile(
      file,
      `apiVersion: v1
kind: Config
clusters: [{name: fake, cluster: {server: "${server.url}", insecure-skip-tls-verify: true}}]
users: [{name: u, user: {token: kubeconfig-token}}]
contexts: [{name: c, context: {cluster: fake, user: u}}]
current-context: c
`,
    );
    const tokenFile = join(dir, 'token');
    await writeFile(tokenFile, 'canary-sa-token');
    const log = recordingLogger();
    const kube = createKube({ kubeconfig: file, tokenFile, log });
    await readSecret(kube);
    expect(lastAuth()).toBe('Bearer canary-sa-token');
    expect(log.entries[0]?.obj).toMatchObject({ server: server.url, tokenFile });
    expect(JSON.stringify(log.entries)).not.toContain('canary-sa-token');
  });
});

describe('connection reuse', () => {
  it('reuses connections across requests', async () => {
    let connections = 0;
    server.server.on('connection', () => connections++);
    const kube = kubeClients(server.kubeConfig());
    for (let i = 0; i < 20; i++) await readSecret(kube);
    expect(server.requests).toHaveLength(20);
    expect(connections).toBeLessThanOrEqual(2);
  });
});

const readSecret = (kube: Kube) => kube.http.request({ method: 'GET', path: '/api/v1/namespaces/ns/secrets/s' });
