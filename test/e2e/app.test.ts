/**
 * The assembled app in-process (main.ts build → start → stop) against the real environment:
 * etcd + kube-apiserver + OpenBao on loopback. The servers are not listened on: requests go
 * through fastify's inject, as a user's would through the port.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config.js';
import type { Logger } from '../../src/core/types.js';
import { build, type App } from '../../src/main.js';
import { REFRESH_ROUTE, signRequest, SIGNATURE_HEADER, TIMESTAMP_HEADER } from '../../src/server/index.js';
import { CONTROLLER_NAMESPACE, TestEnv } from '../env/testenv.js';
import {
  createSecretSync,
  decode,
  deleteSecretSync,
  patchSecretSync,
  secretSync,
  waitReady,
  waitSecret,
} from './helpers.js';

const CANARY = 'canary-app-3c91f07e';
const CANARY_PUSHED = 'canary-app-pushed-8d20b6aa';
const WEBHOOK_KEY = 'app-test-webhook-key-0123456789abcdef';

let env: TestEnv;
let app: App;
let failed = true;
const lines: string[] = [];

/** Every log line as JSON text, so the canary check sees all of it. */
function capture(bindings: Record<string, unknown> = {}): Logger {
  const at =
    (level: string) =>
    (obj: object, msg?: string): void => {
      lines.push(JSON.stringify({ level, ...bindings, ...obj, msg }));
    };
  return {
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
    child: (more) => capture({ ...bindings, ...more }),
  };
}

beforeAll(async () => {
  env = await TestEnv.start();
  await env.createServiceAccount('team-app', 'myapp');
  await env.policy('app-read', 'path "secret/data/app/*" { capabilities = ["read"] }');
  await env.role('app-read', { serviceAccounts: ['myapp'], namespaces: ['team-app'], policies: ['app-read'] });
  await env.writeKv('app/config', { password: CANARY });
  const keyFile = join(env.dir, 'webhook.key');
  writeFileSync(keyFile, `${WEBHOOK_KEY}\n`);
  const config = parseConfig(
    [
      `--kubeconfig=${env.controllerKubeconfig}`,
      `--vault-address=${env.vaultAddr}`,
      `--token-path=${env.controllerVaultTokenFile}`,
      `--controller-namespace=${CONTROLLER_NAMESPACE}`,
      '--listen=127.0.0.1:0',
      '--refresh-min=1s',
      '--log-level=debug',
      `--webhook-key-file=${keyFile}`,
      '--metrics-per-secretsync',
    ],
    { env: {}, readFile: (p) => (p === keyFile ? `${WEBHOOK_KEY}\n` : '') },
  );
  app = await build(config, { log: capture() });
  app.start();
  failed = false;
});

afterAll(async () => {
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- undefined when beforeAll failed
  await app?.stop();
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- undefined when beforeAll failed
  await env?.stop(failed);
});

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('the assembled app, in-process', () => {
  it('becomes ready once its caches sync, and is healthy', async () => {
    try {
      await until('/readyz 200', async () => (await app.servers.main.inject('/readyz')).statusCode === 200);
      expect((await app.servers.main.inject('/healthz')).statusCode).toBe(200);
    } catch (err) {
      failed = true;
      throw err;
    }
  });

  it('syncs a SecretSync, then follows a signed push within the same process', async () => {
    try {
      await createSecretSync(
        env,
        secretSync('team-app', 'myapp', {
          vault: { kv: { path: 'app/config' } },
          auth: { kubernetes: { role: 'app-read', serviceAccountName: 'myapp' } },
          target: { name: 'myapp-secret' },
          refresh: { interval: '1h' },
        }),
      );
      await waitReady(env, 'team-app', 'myapp', 'True');
      const first = await waitSecret(env, 'team-app', 'myapp-secret', () => true);
      expect(decode(first.data).password).toBe(CANARY);

      // With a 1 h interval only the push can bring the new value in time.
      await env.writeKv('app/config', { password: CANARY_PUSHED });
      const body = JSON.stringify({ paths: ['secret/app/config'] });
      const ts = String(Math.floor(Date.now() / 1000));
      const res = await app.servers.main.inject({
        method: 'POST',
        url: REFRESH_ROUTE,
        headers: {
          'content-type': 'application/json',
          [TIMESTAMP_HEADER]: ts,
          [SIGNATURE_HEADER]: signRequest(Buffer.from(WEBHOOK_KEY), ts, body),
        },
        payload: body,
      });
      expect(res.statusCode).toBe(202);
      expect(res.json()).toEqual({ queued: 1 });
      const pushed = await waitSecret(
        env,
        'team-app',
        'myapp-secret',
        (s) => decode(s.data).password === CANARY_PUSHED,
        10_000,
      );
      expect(decode(pushed.data).password).toBe(CANARY_PUSHED);

      const metrics = (await app.servers.main.inject('/metrics')).body;
      expect(metrics).toMatch(/vaultsync_webhook_requests_total\{[^}]*\} 1/);
    } catch (err) {
      failed = true;
      throw err;
    }
  });

  it("with --metrics-per-secretsync, gauges each SecretSync's Ready: 1, 0 once NotReady, gone once deleted", async () => {
    try {
      const scrape = async () => (await app.servers.main.inject('/metrics')).body;
      const series = (name: string) =>
        new RegExp(`^vaultsync_secretsync_ready\\{namespace="team-app",name="${name}"\\} (\\d)$`, 'm');
      const value = async (name: string) => series(name).exec(await scrape())?.[1];
      await until('myapp ready in /metrics', async () => (await value('myapp')) === '1');

      await createSecretSync(
        env,
        secretSync('team-app', 'second', {
          vault: { kv: { path: 'app/config' } },
          auth: { kubernetes: { role: 'app-read', serviceAccountName: 'myapp' } },
          target: { name: 'second-secret' },
          refresh: { interval: '1h' },
        }),
      );
      await waitReady(env, 'team-app', 'second', 'True');
      await until('second = 1', async () => (await value('second')) === '1');

      await patchSecretSync(env, 'team-app', 'second', { spec: { vault: { kv: { path: 'app/missing' } } } });
      await waitReady(env, 'team-app', 'second', 'False', 'VaultPathNotFound');
      await until('second = 0', async () => (await value('second')) === '0');
      expect(await value('myapp')).toBe('1');

      await deleteSecretSync(env, 'team-app', 'second');
      await until('second gone from /metrics', async () => !(await scrape()).includes('name="second"'));
      const text = await scrape();
      expect(await value('myapp')).toBe('1');
      expect(text).toMatch(
        /^vaultsync_secretsync_last_success_timestamp_seconds\{namespace="team-app",name="myapp"\} \d+$/m,
      );
      expect(text).not.toContain(CANARY);
      expect(text).not.toContain(CANARY_PUSHED);
    } catch (err) {
      failed = true;
      throw err;
    }
  });

  it('stops cleanly (idempotent), keeps the Secret, and never logged a secret value', async () => {
    try {
      const stopping = app.stop();
      expect(app.stop()).toBe(stopping);
      await stopping;
      const kept = await waitSecret(env, 'team-app', 'myapp-secret', () => true);
      expect(decode(kept.data).password).toBe(CANARY_PUSHED);
      expect(lines.some((l) => l.includes('"msg":"stopped"'))).toBe(true);
      const all = lines.join('\n');
      expect(all).not.toContain(CANARY);
      expect(all).not.toContain(CANARY_PUSHED);
      expect(all).not.toContain(WEBHOOK_KEY);
    } catch (err) {
      failed = true;
      throw err;
    }
  });
});
