/**
 * Encryption at rest with the KMS v2 plugin, on real parts: kube-apiserver started with an
 * EncryptionConfiguration pointing at `vaultsync kms`, which wraps DEKs with OpenBao's Transit.
 * etcd is read directly to see what is stored. Rotation, plugin restart, a 60 s Vault outage, the
 * controller's own Secrets, and no plaintext/DEK/credential in the plugin's logs or metrics.
 */
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKmsClient } from '../../src/kms/index.js';
import { call, must, waitFor } from '../env/http.js';
import { etcdGet, etcdList, KMS_PROVIDER, KmsPlugin, TRANSIT_KEY } from '../env/kms.js';
import { TestEnv } from '../env/testenv.js';
import { encodedForms } from './canary.js';
import {
  createSecret,
  createSecretSync,
  decode,
  getSecret,
  secretSync,
  sleep,
  waitReady,
  waitSecret,
} from './helpers.js';
import { startAuthVariants, tlsListener, type AuthVariants } from '../env/kms-auth.js';

const PREFIX = `k8s:enc:kms:v2:${KMS_PROVIDER}:`;
const keyId = (v: number) => `vault-transit:transit/${TRANSIT_KEY}:v${v}`;
// Planted values: they must be in etcd only encrypted, and nowhere in the plugin's output.
const canaries = new Map<string, string>();
const plant = (name: string) => {
  const v = `canary-${name}-${Math.random().toString(16).slice(2, 12)}`;
  canaries.set(name, v);
  return v;
};

let env: TestEnv;
let kms: KmsPlugin;
let auth: AuthVariants;
let failed = false;

beforeAll(async () => {
  const tls = await tlsListener();
  env = await TestEnv.start({
    vaultHcl: tls.hcl,
    beforeApiserver: async (e) => {
      // Short AppRole tokens: the plugin renews them, and past the max TTL logs in again, during the test.
      const r = await KmsPlugin.setup(e, { tokenTtl: '12s', tokenMaxTtl: '40s' });
      kms = r.plugin;
      return r.args;
    },
  });
  failed = true;
  auth = await startAuthVariants(env, tls);
  await env.createNamespace('kms-a');
  failed = false;
});

afterAll(async () => {
  /* eslint-disable @typescript-eslint/no-unnecessary-condition -- undefined when beforeAll failed */
  await auth?.stop();
  await env?.stop(failed);
  await kms?.proc.stop();
  /* eslint-enable @typescript-eslint/no-unnecessary-condition */
});

function track(fn: () => Promise<void>): () => Promise<void> {
  return async () => {
    try {
      await fn();
    } catch (err) {
      failed = true;
      throw err;
    }
  };
}

async function raw(ns: string, name: string): Promise<string> {
  const v = await etcdGet(env, `/registry/secrets/${ns}/${name}`);
  if (v === undefined) throw new Error(`etcd has no /registry/secrets/${ns}/${name}`);
  return v.toString('latin1');
}

/** Stored encrypted under `version`, with none of `values` in any encoding. */
async function expectEncrypted(ns: string, name: string, version: number, values: string[] = []): Promise<void> {
  const stored = await raw(ns, name);
  expect(stored.startsWith(PREFIX)).toBe(true);
  expect(stored).toContain(keyId(version));
  for (const v of values) for (const form of [v, ...encodedForms(v)]) expect(stored).not.toContain(form);
}

const kmsHealth = async () => call(env.kube, 'GET', '/healthz/kms-providers');
const readAll = async (names: string[]) => {
  for (const n of names) expect((await getSecret(env, 'kms-a', n))?.metadata.name).toBe(n);
};

describe('KMS plugin login methods on real OpenBao', () => {
  it(
    // First: the token-file plugin's 6 s token would not outlive the 60 s Vault outage below.
    'token file (renewed before expiry) and TLS certificate login both serve Status, Encrypt and Decrypt',
    track(async () => {
      await auth.check();
    }),
  );
});

describe('KMS v2 with Vault Transit', () => {
  it(
    'stores Secrets in etcd with the k8s:enc:kms:v2 prefix and no plaintext, and reads them back through kubectl',
    track(async () => {
      for (const n of ['s1', 's2', 's3']) await createSecret(env, 'kms-a', n, { password: plant(n) });
      for (const n of ['s1', 's2', 's3']) await expectEncrypted('kms-a', n, 1, [canaries.get(n) ?? '']);
      const out = execFileSync(env.bins.kubectl, [
        `--kubeconfig=${env.adminKubeconfig}`,
        '-n',
        'kms-a',
        'get',
        'secret',
        's1',
        '-o',
        'jsonpath={.data.password}',
      ]).toString();
      expect(Buffer.from(out, 'base64').toString()).toBe(canaries.get('s1'));
      // KMS v2: one DEK seed per key id, not one Transit call per write.
      expect(await kms.counter('vaultsync_kms_rpc_total', 'method="Encrypt",code="OK"')).toBeLessThanOrEqual(2);
    }),
  );

  it(
    'rotating the Transit key: new writes carry the new key id, old Secrets still read, re-encryption leaves nothing on the old key',
    track(async () => {
      await must(env.vault, 'POST', `/v1/transit/keys/${TRANSIT_KEY}/rotate`, {});
      let i = 0;
      await waitFor(
        'a new write under the rotated key',
        async () => {
          await kmsHealth(); // runs the apiserver's KMS check (cached 20 s) instead of waiting for its 1-minute poll
          const name = `probe-${i++}`;
          await createSecret(env, 'kms-a', name, { v: 'probe' });
          return (await raw('kms-a', name)).includes(keyId(2));
        },
        90_000,
        2_000,
      );
      await expectEncrypted('kms-a', 's1', 1);
      await readAll(['s1', 's2', 's3']);

      // docs/kms.md: re-encrypt every Secret by writing it back unchanged.
      const all = execFileSync(env.bins.kubectl, [
        `--kubeconfig=${env.adminKubeconfig}`,
        'get',
        'secrets',
        '-A',
        '-o',
        'json',
      ]);
      execFileSync(env.bins.kubectl, [`--kubeconfig=${env.adminKubeconfig}`, 'replace', '-f', '-'], { input: all });
      const stored = await etcdList(env, '/registry/secrets/');
      expect(stored.size).toBeGreaterThanOrEqual(4);
      for (const [key, value] of stored) {
        const text = value.toString('latin1');
        expect(text.startsWith(PREFIX), key).toBe(true);
        expect(text.includes(keyId(2)) && !text.includes(keyId(1)), key).toBe(true);
      }

      // A restarted apiserver has no DEK cached: reading now really goes through the plugin's Decrypt.
      const decrypts = await kms.counter('vaultsync_kms_rpc_total', 'method="Decrypt",code="OK"');
      await env.restartApiserver();
      await readAll(['s1', 's2', 's3']);
      expect(decode((await getSecret(env, 'kms-a', 's2'))?.data).password).toBe(canaries.get('s2'));
      expect(await kms.counter('vaultsync_kms_rpc_total', 'method="Decrypt",code="OK"')).toBeGreaterThan(decrypts);
    }),
    240_000,
  );

  it(
    'survives a plugin crash: reads and writes go on from the DEK the apiserver holds, and it recovers by itself',
    track(async () => {
      await kms.proc.kill(); // SIGKILL: the socket file stays behind
      await readAll(['s1', 's2', 's3']);
      await createSecret(env, 'kms-a', 'during-crash', { v: plant('crash') });
      await kms.restart();
      await waitFor('apiserver sees the plugin healthy', async () => (await kmsHealth()).status === 200, 60_000, 1_000);
      await createSecret(env, 'kms-a', 'after-crash', { v: plant('after-crash') });
      await expectEncrypted('kms-a', 'after-crash', 2, [canaries.get('after-crash') ?? '']);
      await readAll(['during-crash', 'after-crash']);
    }),
  );

  it(
    'Vault unreachable for 60 s: reads keep working, writes go on with the current DEK (as the apiserver documents), recovery needs no steps',
    track(async () => {
      await env.stopVault();
      const t0 = Date.now();
      const health = await waitFor(
        'the apiserver reporting the plugin unhealthy',
        async () => {
          const h = await kmsHealth();
          return h.status !== 200 ? h : undefined;
        },
        45_000,
        1_000,
      );
      expect(health.text).toContain('VaultUnavailable');
      expect((await call({ url: kms.metricsUrl }, 'GET', '/readyz')).status).toBe(503);
      // Writes: the apiserver keeps its write DEK valid for 3 minutes after the last healthy Status.
      await createSecret(env, 'kms-a', 'during-outage', { v: plant('outage') });
      await expectEncrypted('kms-a', 'during-outage', 2, [canaries.get('outage') ?? '']);
      while (Date.now() - t0 < 60_000) {
        await readAll(['s1', 's2', 's3', 'during-outage']);
        await sleep(10_000);
      }
      await env.startVault();
      await waitFor('the plugin healthy again', async () => (await kmsHealth()).status === 200, 60_000, 1_000);
      await createSecret(env, 'kms-a', 'after-outage', { v: plant('after-outage') });
      await expectEncrypted('kms-a', 'after-outage', 2, [canaries.get('after-outage') ?? '']);
      await readAll(['s1', 'during-outage', 'after-outage']);
    }),
    240_000,
  );

  it(
    "encrypts vaultsync's own synced Secrets: Vault KV to an encrypted etcd",
    track(async () => {
      await env.createServiceAccount('kms-a', 'app');
      await env.policy('kms-app-read', 'path "secret/data/kms-app/*" { capabilities = ["read"] }');
      await env.role('kms-app', { serviceAccounts: ['app'], namespaces: ['kms-a'], policies: ['kms-app-read'] });
      await env.writeKv('kms-app/config', { password: plant('synced') });
      await env.startController();
      await createSecretSync(
        env,
        secretSync('kms-a', 'app', {
          vault: { kv: { path: 'kms-app/config' } },
          auth: { kubernetes: { role: 'kms-app', serviceAccountName: 'app' } },
          target: { name: 'app-secret' },
        }),
      );
      await waitReady(env, 'kms-a', 'app', 'True');
      await waitSecret(env, 'kms-a', 'app-secret', (s) => decode(s.data).password === canaries.get('synced'));
      await expectEncrypted('kms-a', 'app-secret', 2, [canaries.get('synced') ?? '']);
    }),
  );

  it(
    'renewed and replaced its AppRole token along the way, and never put plaintext, DEKs or credentials in logs or metrics',
    track(async () => {
      // Across both plugin processes (metrics restart with the crash): 12 s tokens renewed at 8 s, and a
      // new login after the outage, where the token expired while Vault was down.
      const lines = kms.log().split('\n');
      const outageEnd = lines.findLastIndex((l) => l.includes('did not answer renew'));
      expect(lines.filter((l) => l.includes('"Vault token renewed"')).length).toBeGreaterThan(0);
      expect(outageEnd).toBeGreaterThan(0);
      expect(lines.slice(outageEnd).some((l) => l.includes('"Vault token obtained"'))).toBe(true);
      expect(await kms.counter('vaultsync_kms_vault_requests_total', 'operation="login",status="200"')).toBeGreaterThan(
        0,
      );
      // The DEK seeds themselves: Transit ciphertext from etcd, decrypted through the plugin.
      const client = createKmsClient(kms.socket);
      const seeds: string[] = [];
      for (const value of (await etcdList(env, '/registry/secrets/kms-a/')).values()) {
        const text = value.toString('latin1');
        const wrapped = /vault:v[0-9]+:[A-Za-z0-9+/]+=*/.exec(text)?.[0];
        if (wrapped === undefined) throw new Error('no wrapped DEK in a stored Secret');
        const id = text.includes(keyId(2)) ? keyId(2) : keyId(1);
        const r = await client.decrypt({ ciphertext: Buffer.from(wrapped), uid: 'leak-check', key_id: id });
        seeds.push(Buffer.from(r.plaintext).toString('base64'), Buffer.from(r.plaintext).toString('hex'), wrapped);
      }
      client.close();
      expect(seeds.length).toBeGreaterThan(6);
      const haystack = [kms.log(), await kms.metrics(), auth.logs(), await auth.metrics()].join('\n');
      const secrets = [...canaries.values(), ...kms.secrets, ...auth.secrets, env.rootToken];
      for (const c of [...secrets, ...seeds]) {
        for (const form of [c, ...encodedForms(c)]) expect(haystack, 'a canary leaked').not.toContain(form);
      }
    }),
  );
});
