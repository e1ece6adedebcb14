/**
 * The whole product in a real cluster: the image built from the Dockerfile, the Helm chart
 * installed into k3s (pods, probes, projected token, leader election), Vault in a container. Runs
 * only with `npm run test:kind` on a machine with a Docker engine (require-docker.ts fails the run
 * otherwise). helm and kubectl come from the test environment (`npm run testenv:build`).
 */
import { spawn } from 'node:child_process';
import { createWriteStream, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { K3sContainer, type StartedK3sContainer } from '@testcontainers/k3s';
import { VaultContainer, type StartedVaultContainer } from '@testcontainers/vault';
import { GenericContainer, Network, getContainerRuntimeClient, type StartedNetwork } from 'testcontainers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { findBinaries } from '../env/paths.js';
import { REPO } from '../env/testenv.js';

const K3S_IMAGE = process.env.VAULTSYNC_KIND_K3S_IMAGE ?? 'rancher/k3s:v1.31.2-k3s1';
const VAULT_IMAGE = process.env.VAULTSYNC_KIND_VAULT_IMAGE ?? 'hashicorp/vault:1.19.0';
const IMAGE = 'vaultsync:kind-test';
const ROOT_TOKEN = 'kind-root-token';
const NS = 'vaultsync-system';
const CANARY = 'canary-kind-4b1f9e27';
const ROTATED = 'canary-kind-rotated-8c2d';

const bins = findBinaries();
const dir = mkdtempSync(join(tmpdir(), 'vaultsync-kind-'));
const kubeconfig = join(dir, 'kubeconfig');
let network: StartedNetwork;
let vault: StartedVaultContainer;
let k3s: StartedK3sContainer;

function sh(cmd: string, args: string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      env: { PATH: process.env.PATH ?? '', HOME: dir, KUBECONFIG: kubeconfig },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString('utf8')));
    child.stderr.on('data', (c: Buffer) => (err += c.toString('utf8')));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code === 0) resolve(out);
      else reject(new Error(`${cmd} ${args.join(' ')} exited ${code}: ${err}`));
    });
    child.stdin.end(input ?? '');
  });
}

const kubectl = (...args: string[]) => sh(bins.kubectl, args);
const apply = (obj: unknown) => sh(bins.kubectl, ['apply', '-f', '-'], JSON.stringify(obj));
const getJson = async <T>(...args: string[]) => JSON.parse(await kubectl('get', ...args, '-o', 'json')) as T;

async function vaultApi(method: string, path: string, body?: unknown): Promise<unknown> {
  const res = await fetch(`${vault.getAddress()}/v1/${path}`, {
    method,
    headers: { 'x-vault-token': ROOT_TOKEN, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!res.ok) throw new Error(`vault ${method} ${path}: HTTP ${res.status} ${await res.text()}`);
  return res.status === 204 ? undefined : res.json();
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 120_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${String(last)}`);
    await new Promise((r) => setTimeout(r, 1000));
  }
}

/** Builds the image from the repository's Dockerfile and imports it into k3s's containerd. */
async function buildAndLoadImage(): Promise<void> {
  await GenericContainer.fromDockerfile(REPO).build(IMAGE, { deleteOnExit: false });
  const client = await getContainerRuntimeClient();
  const tar = join(dir, 'image.tar');
  await pipeline(await client.container.dockerode.getImage(IMAGE).get(), createWriteStream(tar));
  await k3s.copyFilesToContainer([{ source: tar, target: '/tmp/vaultsync-image.tar' }]);
  const r = await k3s.exec(['ctr', 'images', 'import', '/tmp/vaultsync-image.tar']);
  if (r.exitCode !== 0) throw new Error(`ctr images import: ${r.output}`);
}

beforeAll(async () => {
  network = await new Network().start();
  [vault, k3s] = await Promise.all([
    new VaultContainer(VAULT_IMAGE).withVaultToken(ROOT_TOKEN).withNetwork(network).start(),
    new K3sContainer(K3S_IMAGE).withNetwork(network).start(),
  ]);
  writeFileSync(kubeconfig, k3s.getKubeConfig(), { mode: 0o600 });
  await buildAndLoadImage();

  // Vault's Kubernetes auth calls k3s's TokenReview with a reviewer ServiceAccount, as in production.
  await kubectl('create', 'namespace', 'vault');
  await kubectl('-n', 'vault', 'create', 'serviceaccount', 'token-reviewer');
  await kubectl(
    'create',
    'clusterrolebinding',
    'vault-token-reviewer',
    '--clusterrole=system:auth-delegator',
    '--serviceaccount=vault:token-reviewer',
  );
  const reviewer = (await kubectl('-n', 'vault', 'create', 'token', 'token-reviewer', '--duration=24h')).trim();
  const kc = parse(k3s.getKubeConfig()) as { clusters: { cluster: { 'certificate-authority-data': string } }[] };
  const ca = Buffer.from(kc.clusters[0]?.cluster['certificate-authority-data'] ?? '', 'base64').toString('utf8');
  await vaultApi('POST', 'sys/auth/kubernetes', { type: 'kubernetes' });
  await vaultApi('POST', 'auth/kubernetes/config', {
    kubernetes_host: `https://${k3s.getIpAddress(network.getName())}:6443`,
    kubernetes_ca_cert: ca,
    token_reviewer_jwt: reviewer,
    disable_local_ca_jwt: true,
  });
  await vaultApi('PUT', 'sys/policies/acl/myapp-read', {
    policy: 'path "secret/data/myapp/*" { capabilities = ["read"] }',
  });
  await vaultApi('POST', 'auth/kubernetes/role/app-read', {
    bound_service_account_names: ['myapp'],
    bound_service_account_namespaces: ['team-a'],
    token_policies: ['myapp-read'],
    audience: 'vault',
    token_ttl: '15m',
  });
  await vaultApi('POST', 'secret/data/myapp/config', { data: { database_password: CANARY } });

  await sh(bins.helm, [
    'install',
    'vaultsync',
    join(REPO, 'charts', 'vaultsync'),
    '--namespace',
    NS,
    '--create-namespace',
    '--set',
    `image.repository=${IMAGE.split(':')[0] ?? ''}`,
    '--set',
    `image.tag=${IMAGE.split(':')[1] ?? ''}`,
    '--set',
    'image.pullPolicy=Never',
    '--set',
    `config.vaultAddress=http://${vault.getIpAddress(network.getName())}:8200`,
    '--set',
    'config.refreshMin=1s',
    '--wait',
    '--timeout=5m',
  ]);
});

afterAll(async () => {
  // Each may be undefined when beforeAll failed part-way.
  /* eslint-disable @typescript-eslint/no-unnecessary-condition */
  await k3s?.stop();
  await vault?.stop();
  await network?.stop();
  /* eslint-enable @typescript-eslint/no-unnecessary-condition */
  rmSync(dir, { recursive: true, force: true });
});

interface Lease {
  spec: { holderIdentity?: string };
}

const leader = async () => (await getJson<Lease>('-n', NS, 'lease', 'vaultsync-leader')).spec.holderIdentity ?? '';

describe('vaultsync installed by its chart into k3s', () => {
  it('runs two ready replicas, one of them holding the Lease', async () => {
    const pods = await getJson<{ items: { metadata: { name: string } }[] }>(
      '-n',
      NS,
      'pods',
      '-l',
      'app.kubernetes.io/name=vaultsync',
    );
    expect(pods.items).toHaveLength(2);
    const holder = await until('a leader', async () => (await leader()) || undefined);
    expect(pods.items.map((p) => p.metadata.name).some((n) => holder.startsWith(n))).toBe(true);
  });

  it('syncs a SecretSync into a Secret', async () => {
    await kubectl('create', 'namespace', 'team-a');
    await kubectl('-n', 'team-a', 'create', 'serviceaccount', 'myapp');
    await apply({
      apiVersion: 'vaultsync.io/v1alpha1',
      kind: 'SecretSync',
      metadata: { name: 'myapp', namespace: 'team-a' },
      spec: {
        vault: { kv: { path: 'myapp/config' } },
        auth: { kubernetes: { role: 'app-read', serviceAccountName: 'myapp' } },
        data: [{ secretKey: 'DB_PASS', property: 'database_password' }],
        target: { name: 'myapp-secret' },
        refresh: { interval: '2s' },
      },
    });
    const value = await until('the Secret', async () => {
      const s = await getJson<{ data: Record<string, string> }>('-n', 'team-a', 'secret', 'myapp-secret');
      return s.data.DB_PASS === undefined ? undefined : Buffer.from(s.data.DB_PASS, 'base64').toString('utf8');
    });
    expect(value).toBe(CANARY);
  });

  it('keeps syncing after the leader pod is killed: the standby takes over', async () => {
    const before = await leader();
    const pod = before.replace(/_[0-9a-f]+$/, '');
    await kubectl('-n', NS, 'delete', 'pod', pod, '--grace-period=0', '--force');
    await vaultApi('POST', 'secret/data/myapp/config', { data: { database_password: ROTATED } });
    const value = await until(
      'the rotated value',
      async () => {
        const s = await getJson<{ data: Record<string, string> }>('-n', 'team-a', 'secret', 'myapp-secret');
        const v = Buffer.from(s.data.DB_PASS ?? '', 'base64').toString('utf8');
        return v === ROTATED ? v : undefined;
      },
      60_000,
    );
    expect(value).toBe(ROTATED);
    expect(await leader()).not.toBe(before);
  });
});
