/**
 * The KMS plugin's other two login methods against the real OpenBao: a token file (a short TTL,
 * so renewal happens during the test) and TLS-certificate login on a second, TLS listener with
 * its own CA. Each runs as its own `vaultsync kms` process, called over gRPC as the apiserver would.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createKmsClient } from '../../src/kms/index.js';
import { must, waitFor } from './http.js';
import { kmsProcess, TRANSIT_KEY, waitReady } from './kms.js';
import { makePki, type Pki } from './pki.js';
import { freePort, type Proc } from './process.js';
import type { TestEnv } from './testenv.js';

export interface TlsListener {
  hcl: string;
  port: number;
  pki: Pki;
  dir: string;
}

/** A TLS listener for OpenBao (TestEnvOptions.vaultHcl), with a CA of its own. */
export async function tlsListener(): Promise<TlsListener> {
  const dir = mkdtempSync(join(tmpdir(), 'vaultsync-kms-tls-'));
  const pki = makePki(dir);
  const port = await freePort();
  const hcl = [
    'listener "tcp" {',
    `  address = "127.0.0.1:${port}"`,
    `  tls_cert_file = "${pki.serverCert}"`,
    `  tls_key_file = "${pki.serverKey}"`,
    `  tls_client_ca_file = "${pki.caCert}"`,
    '}',
  ].join('\n');
  return { hcl, port, pki, dir };
}

export interface AuthVariants {
  /** Status, Encrypt, Decrypt through each; the token-file plugin must have renewed its token. */
  check(): Promise<void>;
  logs(): string;
  metrics(): Promise<string>;
  /** The token, the client key: for the leak check. */
  secrets: string[];
  stop(): Promise<void>;
}

/** Needs the `kms-plugin` policy and the Transit key that KmsPlugin.setup creates. */
export async function startAuthVariants(env: TestEnv, tls: TlsListener): Promise<AuthVariants> {
  const token = (
    await must<{ auth: { client_token: string } }>(env.vault, 'POST', '/v1/auth/token/create', {
      policies: ['kms-plugin'],
      ttl: '6s',
      renewable: true,
      no_parent: true,
    })
  ).body.auth.client_token;
  const tokenFile = join(env.dir, 'kms.vault-token');
  writeFileSync(tokenFile, token, { mode: 0o600 });

  await must(env.vault, 'POST', '/v1/sys/auth/cert', { type: 'cert' });
  await must(env.vault, 'POST', '/v1/auth/cert/certs/kms', {
    certificate: tls.pki.caPem,
    allowed_common_names: ['vaultsync-test-admin'],
    token_policies: ['kms-plugin'],
    token_ttl: '1h',
  });

  const procs: { proc: Proc; socket: string; metrics: string }[] = [];
  const start = async (name: string, args: string[]) => {
    const port = await freePort();
    const socket = join(env.dir, `${name}.sock`);
    const proc = kmsProcess(env, name, [
      `--socket=${socket}`,
      `--listen=127.0.0.1:${port}`,
      `--transit-key=${TRANSIT_KEY}`,
      ...args,
    ]);
    proc.start();
    procs.push({ proc, socket, metrics: `http://127.0.0.1:${port}` });
    await waitReady(proc, { url: `http://127.0.0.1:${port}` });
  };
  await start('kms-token-file', [`--vault-address=${env.vaultAddr}`, '--auth=token-file', `--token-file=${tokenFile}`]);
  await start('kms-cert', [
    `--vault-address=https://127.0.0.1:${tls.port}`,
    `--vault-ca-file=${tls.pki.caCert}`,
    '--auth=cert',
    '--cert-role=kms',
    `--client-cert-file=${tls.pki.adminCert}`,
    `--client-key-file=${tls.pki.adminKey}`,
  ]);
  const keyPem = readFileSync(tls.pki.adminKey, 'utf8');
  const keyLine = keyPem.split('\n').find((l) => l.length >= 40) ?? keyPem;

  const metrics = async () =>
    (await Promise.all(procs.map(async (p) => (await must({ url: p.metrics }, 'GET', '/metrics')).text))).join('\n');

  return {
    secrets: [token, keyLine],
    metrics,
    logs: () => procs.map((p) => readFileSync(p.proc.logFile, 'utf8')).join('\n'),
    async check() {
      for (const p of procs) {
        const client = createKmsClient(p.socket);
        try {
          const status = await client.status();
          if (status.healthz !== 'ok') throw new Error(`${p.proc.name}: Status says ${status.healthz}`);
          const dek = Buffer.from('0123456789abcdef0123456789abcdef');
          const enc = await client.encrypt({ plaintext: dek, uid: 'auth-check' });
          if (enc.key_id !== status.key_id) throw new Error(`${p.proc.name}: key ids differ`);
          const dec = await client.decrypt({ ciphertext: enc.ciphertext, uid: 'auth-check', key_id: enc.key_id });
          if (!Buffer.from(dec.plaintext).equals(dek)) throw new Error(`${p.proc.name}: round trip changed the DEK`);
        } finally {
          client.close();
        }
      }
      // The 6 s token is renewed at 4 s.
      await waitFor(
        'a renewal of the token-file token',
        async () => (await metrics()).includes('vaultsync_kms_vault_requests_total{operation="renew",status="200"}'),
        15_000,
        500,
      );
    },
    async stop() {
      for (const p of procs) await p.proc.stop();
      rmSync(tls.dir, { recursive: true, force: true });
    },
  };
}
