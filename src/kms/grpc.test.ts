import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { status as GrpcStatus, type Server } from '@grpc/grpc-js';
import { tokenFileSource } from './auth-sources.js';
import { createKmsClient, type KmsClient } from './client.js';
import { buildGrpcServer, listenUnix, shutdown } from './grpc.js';
import { buildKmsHttpServer, createKmsMetrics, type KmsMetrics } from './metrics.js';
import { KmsService } from './service.js';
import { FakeTransit } from './testing/fake-transit.js';
import { TokenManager } from './token-manager.js';
import { Transit } from './transit.js';
import { systemTimers, type KmsLogger } from './types.js';
import { VaultHttp } from './vault-http.js';

const TOKEN = 'hvs.CANARYtoken0123456789abcdefXYZ';
const DEK = Buffer.from('CANARY-dek-seed-0123456789abcdef');

let dir: string;
let vault: FakeTransit;
let http: VaultHttp;
let server: Server;
let client: KmsClient;
let metrics: KmsMetrics;
let service: KmsService;
let logged: string;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'kms-grpc-'));
  vault = await FakeTransit.start();
  vault.tokens.set(TOKEN, { ttl: 3600, renewable: true });
  writeFileSync(join(dir, 'token'), TOKEN);
  logged = '';
  const line = (fields: Record<string, unknown>, msg: string) => {
    logged += `${JSON.stringify(fields)} ${msg}\n`;
  };
  const log: KmsLogger = { info: line, warn: line, error: line };
  metrics = createKmsMetrics();
  http = new VaultHttp({ address: vault.url, observe: metrics.vault });
  const { readFile } = await import('node:fs/promises');
  const tokens = new TokenManager({
    source: tokenFileSource({ file: join(dir, 'token'), readFile: (f) => readFile(f, 'utf8'), vault: http }),
    vault: http,
    timers: systemTimers,
    log,
    backgroundTimeoutMs: 1_000,
  });
  service = new KmsService(
    { transit: new Transit(http, tokens, { mount: 'transit', name: 'kms' }), timers: systemTimers, log },
    { rpcTimeoutMs: 500, statusCacheMs: 60_000, statusFailCacheMs: 0 },
  );
  server = buildGrpcServer({ service, log, metrics });
  await listenUnix(server, join(dir, 'kms.sock'));
  client = createKmsClient(join(dir, 'kms.sock'));
});

afterEach(async () => {
  client.close();
  await shutdown(server, 1_000);
  http.close();
  await vault.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('KMS v2 over gRPC', () => {
  it('serves Status, Encrypt and Decrypt as the apiserver calls them, on an owner-only socket', async () => {
    expect(statSync(join(dir, 'kms.sock')).mode & 0o777).toBe(0o600);
    expect(await client.status()).toEqual({ version: 'v2', healthz: 'ok', key_id: 'vault-transit:transit/kms:v1' });
    const enc = await client.encrypt({ plaintext: DEK, uid: 'uid-1' });
    expect(enc.key_id).toBe('vault-transit:transit/kms:v1');
    expect(Buffer.from(enc.ciphertext).toString()).toMatch(/^vault:v1:/);
    expect(Buffer.from(enc.ciphertext).includes(DEK)).toBe(false);
    const dec = await client.decrypt({ ciphertext: enc.ciphertext, uid: 'uid-2', key_id: enc.key_id });
    expect(Buffer.from(dec.plaintext)).toEqual(DEK);
  });

  it('maps failures to gRPC codes with a reason, and logs neither the DEK nor the token', async () => {
    const enc = await client.encrypt({ plaintext: DEK, uid: 'uid-1' });
    vault.failWith = 503;
    await expect(client.encrypt({ plaintext: DEK, uid: 'uid-3' })).rejects.toMatchObject({
      code: GrpcStatus.UNAVAILABLE,
      details: expect.stringMatching(/^VaultUnavailable: /) as unknown,
    });
    const status = await client.status();
    expect(status.healthz).toMatch(/^VaultUnavailable: Vault failed encrypt \(HTTP 503\)/);
    vault.failWith = undefined;
    const bad = Buffer.from(enc.ciphertext.toString().replace(/^vault:v1:..../, 'vault:v1:AAAA'));
    await expect(client.decrypt({ ciphertext: bad, uid: 'uid-4', key_id: enc.key_id })).rejects.toMatchObject({
      code: GrpcStatus.INVALID_ARGUMENT,
    });
    await expect(client.encrypt({ plaintext: new Uint8Array(), uid: 'uid-5' })).rejects.toMatchObject({
      code: GrpcStatus.INVALID_ARGUMENT,
    });
    expect(logged).toContain('uid-3');
    const text = logged + (await metrics.registry.metrics());
    for (const canary of [TOKEN, DEK.toString(), DEK.toString('base64'), enc.ciphertext.toString()]) {
      expect(text).not.toContain(canary);
    }
  });

  it('counts calls and Vault requests in metrics, and /readyz follows Status', async () => {
    await client.encrypt({ plaintext: DEK, uid: 'u' });
    const app = buildKmsHttpServer({ registry: metrics.registry, status: () => service.status() });
    expect((await app.inject({ url: '/readyz' })).statusCode).toBe(200);
    const text = (await app.inject({ url: '/metrics' })).body;
    expect(text).toContain('vaultsync_kms_rpc_total{method="Encrypt",code="OK"} 1');
    expect(text).toContain('vaultsync_kms_vault_requests_total{operation="encrypt",status="200"} 2');
    expect(text).toContain('vaultsync_kms_vault_requests_total{operation="lookup",status="200"} 1');
    vault.failWith = 500;
    expect((await app.inject({ url: '/readyz' })).statusCode).toBe(200); // cached for 60 s
    await app.close();
  });

  it('replaces a stale socket but never another kind of file', async () => {
    const other = buildGrpcServer({
      service,
      log: { info: () => undefined, warn: () => undefined, error: () => undefined },
      metrics,
    });
    await expect(listenUnix(other, join(dir, 'token'))).rejects.toThrow(/not a socket/);
    await shutdown(server, 1_000);
    await listenUnix(other, join(dir, 'kms.sock')); // left behind by the first server, or gone
    const c = createKmsClient(join(dir, 'kms.sock'));
    expect((await c.status()).healthz).toBe('ok');
    c.close();
    await shutdown(other, 1_000);
  });
});
