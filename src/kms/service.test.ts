import { describe, expect, it } from 'vitest';
import { KmsError } from './errors.js';
import { KmsService, type TransitOps } from './service.js';
import { silentLogger, type Timers } from './types.js';

/** Transit in memory: "encrypts" by tagging with the version; can fail or hang on demand. */
class MemoryTransit implements TransitOps {
  readonly key = { mount: 'transit', name: 'kms' };
  version = 1;
  calls = 0;
  fail: KmsError | undefined;
  hang = false;
  async encrypt(plaintext: Uint8Array, signal: AbortSignal) {
    await this.step(signal);
    return { ciphertext: `vault:v${this.version}:${Buffer.from(plaintext).toString('base64')}`, version: this.version };
  }
  async decrypt(ciphertext: string, signal: AbortSignal) {
    await this.step(signal);
    return Buffer.from(ciphertext.split(':')[2] ?? '', 'base64');
  }
  private async step(signal: AbortSignal): Promise<void> {
    this.calls++;
    if (this.hang) {
      await new Promise((_r, reject) =>
        signal.addEventListener('abort', () => reject(new KmsError('DeadlineExceeded', 'Vault did not answer'))),
      );
    }
    if (this.fail) throw this.fail;
  }
}

const clock = { t: 0 };
const timers: Timers = { now: () => clock.t, setTimeout: () => 0, clearTimeout: () => undefined };

function service(transit = new MemoryTransit(), opts = {}) {
  const health: boolean[] = [];
  const versions: number[] = [];
  const s = new KmsService(
    { transit, timers, log: silentLogger, onHealth: (ok) => health.push(ok), onKeyVersion: (v) => versions.push(v) },
    { rpcTimeoutMs: 200, statusCacheMs: 10_000, statusFailCacheMs: 1_000, ...opts },
  );
  return { s, transit, health, versions };
}

describe('Status', () => {
  it('is ok only after a real round trip, and reuses the answer for the cache period', async () => {
    clock.t = 0;
    const { s, transit } = service();
    const first = await s.status();
    expect(first).toEqual({ version: 'v2', healthz: 'ok', keyId: 'vault-transit:transit/kms:v1' });
    expect(transit.calls).toBe(2); // encrypt + decrypt
    await Promise.all([s.status(), s.status()]);
    clock.t = 9_999;
    await s.status();
    expect(transit.calls).toBe(2);
    clock.t = 10_000;
    await s.status();
    expect(transit.calls).toBe(4);
  });

  it('shows a Transit key rotation in key_id once the cache expires', async () => {
    clock.t = 0;
    const { s, transit, versions } = service();
    await s.status();
    transit.version = 2;
    expect((await s.status()).keyId).toMatch(/:v1$/);
    clock.t = 10_000;
    expect((await s.status()).keyId).toBe('vault-transit:transit/kms:v2');
    expect(versions).toEqual([1, 2]);
  });

  it('says why when Vault fails, keeps the last key id, and retries after the short failure cache', async () => {
    clock.t = 0;
    const { s, transit, health } = service();
    await s.status();
    clock.t = 10_000;
    transit.fail = new KmsError('VaultUnavailable', 'Vault at http://vault:8200 did not answer encrypt: ECONNREFUSED');
    const bad = await s.status();
    expect(bad.healthz).toBe('VaultUnavailable: Vault at http://vault:8200 did not answer encrypt: ECONNREFUSED');
    expect(bad.keyId).toBe('vault-transit:transit/kms:v1');
    transit.fail = undefined;
    clock.t = 10_999;
    expect((await s.status()).healthz).not.toBe('ok');
    clock.t = 11_000;
    expect((await s.status()).healthz).toBe('ok');
    expect(health).toEqual([true, false, true]);
  });

  it('answers within its budget when Vault hangs', async () => {
    clock.t = 0;
    const transit = new MemoryTransit();
    transit.hang = true;
    const { s } = service(transit, { rpcTimeoutMs: 50 });
    const t0 = Date.now();
    const answer = await s.status();
    expect(Date.now() - t0).toBeLessThan(1_000);
    expect(answer.healthz).toMatch(/^DeadlineExceeded/);
    expect(answer.keyId).toBe('vault-transit:unknown');
  });
});

describe('Encrypt and Decrypt', () => {
  it('returns the Transit ciphertext and the key id of the version used', async () => {
    const { s, transit } = service();
    transit.version = 3;
    const r = await s.encrypt(Buffer.from('seed'));
    expect(r.keyId).toBe('vault-transit:transit/kms:v3');
    expect(r.ciphertext.toString('utf8')).toMatch(/^vault:v3:/);
    expect(Buffer.from(await s.decrypt(r.ciphertext, r.keyId)).toString()).toBe('seed');
  });

  it('refuses empty or oversized plaintext, data of another Transit key, and a spent deadline', async () => {
    clock.t = 0;
    const { s, transit } = service();
    await expect(s.encrypt(new Uint8Array())).rejects.toMatchObject({ reason: 'InvalidRequest' });
    await expect(s.encrypt(new Uint8Array(513))).rejects.toMatchObject({ reason: 'InvalidRequest' });
    await expect(s.decrypt(Buffer.from('vault:v1:AAAA'), 'vault-transit:transit/other:v1')).rejects.toMatchObject({
      reason: 'KeyMismatch',
    });
    await expect(s.encrypt(Buffer.from('x'), 50)).rejects.toMatchObject({ reason: 'DeadlineExceeded' });
    expect(transit.calls).toBe(0);
  });
});
