import { mkdtemp, mkdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FILE_REREAD_MS, loadInCluster, loadKubeconfig } from './kubeconfig.js';

async function kubeconfig(
  user: string,
  cluster = 'server: https://api.example:6443',
): Promise<{ dir: string; file: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'kubeconfig-'));
  const file = join(dir, 'config');
  await writeFile(
    file,
    `apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {${cluster}}}]
users: [{name: u, user: {${user}}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
`,
  );
  return { dir, file };
}

const b64 = (s: string) => Buffer.from(s).toString('base64');

describe('loadKubeconfig', () => {
  it('takes inline CA, client certificate and key, the TLS server name and insecure-skip-tls-verify', async () => {
    const { file } = await kubeconfig(
      `client-certificate-data: ${b64('CERT')}, client-key-data: ${b64('KEY')}`,
      `server: https://api.example:6443, certificate-authority-data: ${b64('CA')}, tls-server-name: kube.internal`,
    );
    const config = loadKubeconfig(file);
    expect(config.server).toBe('https://api.example:6443');
    expect(config.context).toBe('x');
    const creds = await config.credentials();
    expect(creds.ca?.toString()).toBe('CA');
    expect(creds.cert?.toString()).toBe('CERT');
    expect(creds.key?.toString()).toBe('KEY');
    expect(creds.servername).toBe('kube.internal');
    expect(creds.rejectUnauthorized).toBe(true);
    expect(creds.authorization).toBeUndefined();
    const insecure = await kubeconfig('token: t', 'server: https://a:1, insecure-skip-tls-verify: true');
    expect((await loadKubeconfig(insecure.file).credentials()).rejectUnauthorized).toBe(false);
  });

  it('reads files relative to the kubeconfig, and a tokenFile again once it is older than the re-read period', async () => {
    const { dir, file } = await kubeconfig(
      'tokenFile: tokens/t, client-certificate: c.pem, client-key: k.pem',
      'server: https://a:1, certificate-authority: ca.pem',
    );
    await mkdir(join(dir, 'tokens'));
    await writeFile(join(dir, 'tokens/t'), 'first\n');
    await writeFile(join(dir, 'ca.pem'), 'CA-FILE');
    let now = 1_000;
    const config = loadKubeconfig(file, undefined, () => now);
    let creds = await config.credentials();
    expect(creds.authorization).toBe('Bearer first');
    expect(creds.ca?.toString()).toBe('CA-FILE');
    // The token file replaces the client certificate (the API server would prefer the certificate).
    expect(creds.cert).toBeUndefined();
    await writeFile(join(dir, 'tokens/t'), 'second\n');
    now += FILE_REREAD_MS - 1;
    expect((await config.credentials()).authorization).toBe('Bearer first');
    now += 1;
    creds = await config.credentials();
    expect(creds.authorization).toBe('Bearer second');
  });

  it('selects the given context over current-context, and says which context or cluster is missing', async () => {
    const { file } = await kubeconfig('token: t');
    expect(() => loadKubeconfig(file, 'nope')).toThrow('context nope not found');
    expect(loadKubeconfig(file, 'x').server).toBe('https://api.example:6443');
  });

  it.each([
    ['exec', 'exec: {command: aws, apiVersion: client.authentication.k8s.io/v1}'],
    ['auth-provider', 'auth-provider: {name: oidc}'],
    ['username', 'username: admin, password: p'],
    ['as', 'token: t, as: someone'],
  ])('refuses a user with %s at startup, naming the field', async (field, user) => {
    const { file } = await kubeconfig(user);
    expect(() => loadKubeconfig(file)).toThrow(`uses ${field}, which vaultsync does not support`);
  });

  it('refuses a proxy-url, a server that is not a URL and a certificate without its key', async () => {
    const proxied = await kubeconfig('token: t', 'server: https://a:1, proxy-url: http://p:3128');
    expect(() => loadKubeconfig(proxied.file)).toThrow('sets proxy-url');
    const notUrl = await kubeconfig('token: t', 'server: not a url');
    expect(() => loadKubeconfig(notUrl.file)).toThrow('is not a URL');
    const halfCert = await kubeconfig(`client-certificate-data: ${b64('C')}`);
    expect(() => loadKubeconfig(halfCert.file)).toThrow('client certificate or key without the other');
  });
});

describe('loadInCluster', () => {
  it('uses KUBERNETES_SERVICE_HOST/PORT, the ServiceAccount CA and its token (IPv6 bracketed)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sa-'));
    await writeFile(join(dir, 'token'), 'projected\n');
    await writeFile(join(dir, 'ca.crt'), 'CLUSTER-CA');
    const config = loadInCluster({ KUBERNETES_SERVICE_HOST: 'fd00::1', KUBERNETES_SERVICE_PORT: '443' }, dir);
    expect(config.server).toBe('https://[fd00::1]:443');
    const creds = await config.credentials();
    expect(creds.authorization).toBe('Bearer projected');
    expect(creds.ca?.toString()).toBe('CLUSTER-CA');
    expect(creds.rejectUnauthorized).toBe(true);
  });

  it('says what to do outside a cluster, and fails at startup without a token', async () => {
    expect(() => loadInCluster({})).toThrow('pass --kubeconfig or set KUBECONFIG');
    const empty = await mkdtemp(join(tmpdir(), 'sa-'));
    expect(() => loadInCluster({ KUBERNETES_SERVICE_HOST: 'h', KUBERNETES_SERVICE_PORT: '1' }, empty)).toThrow(
      'ENOENT',
    );
  });
});
