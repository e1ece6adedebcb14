/**
 * The KMS v2 plugin (`bin/vaultsync.js kms`) in the test environment: a Transit key in OpenBao,
 * a least-privilege policy, the plugin's credentials (AppRole by default), the plugin process on
 * a Unix socket, and the EncryptionConfiguration that points kube-apiserver at it. Used through
 * TestEnvOptions.beforeApiserver, so the plugin is serving before the apiserver starts.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify as toYaml } from 'yaml';
import { call, Fatal, must, waitFor, type Endpoint } from './http.js';
import { freePort, Proc } from './process.js';
import { REPO, type TestEnv } from './testenv.js';

export const KMS_PROVIDER = 'vaultsync';
export const TRANSIT_KEY = 'kubernetes';

export interface KmsPluginOptions {
  /** Token TTL of the AppRole login (the plugin renews it; past token_max_ttl it logs in again). */
  tokenTtl?: string;
  tokenMaxTtl?: string;
  /** Extra flags for the plugin. */
  args?: string[];
}

export class KmsPlugin {
  readonly socket: string;
  readonly encryptionConfig: string;
  metricsUrl = '';
  proc!: Proc;
  /** Credentials planted for the leak checks. */
  readonly secrets: string[] = [];

  private constructor(
    private readonly env: TestEnv,
    private readonly opts: KmsPluginOptions,
  ) {
    this.socket = join(env.dir, 'kms.sock');
    this.encryptionConfig = join(env.dir, 'encryption-config.yaml');
  }

  /** Transit, policy, AppRole, plugin process and EncryptionConfiguration; returns the apiserver flags. */
  static async setup(env: TestEnv, opts: KmsPluginOptions = {}): Promise<{ plugin: KmsPlugin; args: string[] }> {
    const p = new KmsPlugin(env, opts);
    await must(env.vault, 'POST', '/v1/sys/mounts/transit', { type: 'transit' });
    await must(env.vault, 'POST', `/v1/transit/keys/${TRANSIT_KEY}`, { type: 'aes256-gcm96' });
    await env.policy(
      'kms-plugin',
      [
        `path "transit/encrypt/${TRANSIT_KEY}" { capabilities = ["update"] }`,
        `path "transit/decrypt/${TRANSIT_KEY}" { capabilities = ["update"] }`,
      ].join('\n'),
    );
    const creds = await p.appRole('kms-plugin');
    await p.start(creds);
    writeFileSync(
      p.encryptionConfig,
      toYaml({
        apiVersion: 'apiserver.config.k8s.io/v1',
        kind: 'EncryptionConfiguration',
        resources: [
          {
            resources: ['secrets'],
            providers: [
              { kms: { apiVersion: 'v2', name: KMS_PROVIDER, endpoint: `unix://${p.socket}`, timeout: '3s' } },
              { identity: {} },
            ],
          },
        ],
      }),
    );
    return { plugin: p, args: [`--encryption-provider-config=${p.encryptionConfig}`] };
  }

  /** An AppRole bound to `policy`, its role_id and secret_id in files; returns the flags. */
  async appRole(policy: string, role = 'kms'): Promise<string[]> {
    const v = this.env.vault;
    await must(v, 'POST', '/v1/sys/auth/approle', { type: 'approle' }, [400]);
    await must(v, 'POST', `/v1/auth/approle/role/${role}`, {
      token_policies: [policy],
      token_ttl: this.opts.tokenTtl ?? '1h',
      token_max_ttl: this.opts.tokenMaxTtl ?? '4h',
      secret_id_ttl: '0',
    });
    const roleId = (await must<{ data: { role_id: string } }>(v, 'GET', `/v1/auth/approle/role/${role}/role-id`)).body
      .data.role_id;
    const secretId = (
      await must<{ data: { secret_id: string } }>(v, 'POST', `/v1/auth/approle/role/${role}/secret-id`, {})
    ).body.data.secret_id;
    this.secrets.push(roleId, secretId);
    const roleFile = join(this.env.dir, `${role}.role-id`);
    const secretFile = join(this.env.dir, `${role}.secret-id`);
    writeFileSync(roleFile, roleId, { mode: 0o600 });
    writeFileSync(secretFile, secretId, { mode: 0o600 });
    return ['--auth=approle', `--approle-role-id-file=${roleFile}`, `--approle-secret-id-file=${secretFile}`];
  }

  private async start(authArgs: string[]): Promise<void> {
    const port = await freePort();
    this.metricsUrl = `http://127.0.0.1:${port}`;
    this.proc = kmsProcess(this.env, 'kms-plugin', [
      `--socket=${this.socket}`,
      `--listen=127.0.0.1:${port}`,
      `--vault-address=${this.env.vaultAddr}`,
      `--transit-key=${TRANSIT_KEY}`,
      '--status-cache=2s',
      ...authArgs,
      ...(this.opts.args ?? []),
    ]);
    await this.restart();
  }

  /** (Re)starts the process and waits until /readyz says a Transit round trip works. */
  async restart(): Promise<void> {
    this.proc.start();
    await waitReady(this.proc, { url: this.metricsUrl });
  }

  async metrics(): Promise<string> {
    return (await must({ url: this.metricsUrl }, 'GET', '/metrics')).text;
  }

  /** A counter's value from /metrics (0 when absent). */
  async counter(name: string, labels: string): Promise<number> {
    const line = (await this.metrics()).split('\n').find((l) => l.startsWith(`${name}{${labels}}`));
    return line === undefined ? 0 : Number(line.split(' ').pop());
  }

  log(): string {
    return readFileSync(this.proc.logFile, 'utf8');
  }
}

/** A `vaultsync kms` process with the harness's environment (no VAULT_* variables). */
export function kmsProcess(env: TestEnv, name: string, args: string[]): Proc {
  return new Proc(name, process.execPath, [join(REPO, 'bin', 'vaultsync.js'), 'kms', ...args], env.logDir, {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? '/tmp',
  });
}

export async function waitReady(proc: Proc, ep: Endpoint, timeoutMs = 30_000): Promise<void> {
  await waitFor(
    `${proc.name} /readyz`,
    async () => {
      if (!proc.running) throw new Fatal(`${proc.name} exited; see ${proc.logFile}`);
      return (await call(ep, 'GET', '/readyz')).status === 200;
    },
    timeoutMs,
    200,
  );
}

/** What etcd holds under `key`, raw (etcd's v3 JSON gateway; no apiserver in between). */
export async function etcdGet(env: TestEnv, key: string): Promise<Buffer | undefined> {
  const r = await must<{ kvs?: { value: string }[] }>({ url: env.etcdClientUrl }, 'POST', '/v3/kv/range', {
    key: Buffer.from(key).toString('base64'),
  });
  const v = r.body.kvs?.[0]?.value;
  return v === undefined ? undefined : Buffer.from(v, 'base64');
}

/** Every key and raw value under `prefix`. */
export async function etcdList(env: TestEnv, prefix: string): Promise<Map<string, Buffer>> {
  const end = Buffer.from(prefix);
  end[end.length - 1] = (end[end.length - 1] ?? 0) + 1;
  const r = await must<{ kvs?: { key: string; value: string }[] }>({ url: env.etcdClientUrl }, 'POST', '/v3/kv/range', {
    key: Buffer.from(prefix).toString('base64'),
    range_end: end.toString('base64'),
  });
  return new Map(
    (r.body.kvs ?? []).map((kv) => [Buffer.from(kv.key, 'base64').toString(), Buffer.from(kv.value, 'base64')]),
  );
}
