import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { freePortForTest } from './testing/ports.js';
import { MAX_ANSWER_BYTES, statusError, VaultHttp } from './vault-http.js';

let server: Server | undefined;

async function serve(handler: Parameters<typeof createServer>[1]): Promise<string> {
  server = createServer(handler);
  await new Promise<void>((r) => server?.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

afterEach(async () => {
  server?.closeAllConnections();
  await new Promise((r) => (server ? server.close(r) : r(undefined)));
  server = undefined;
});

const call = (signal: AbortSignal) => ({
  op: 'encrypt' as const,
  method: 'POST' as const,
  path: 'transit/encrypt/k',
  body: {},
  signal,
});

describe('VaultHttp', () => {
  it('gives up at the deadline instead of waiting for a hanging Vault', async () => {
    const url = await serve(() => undefined); // never answers
    const v = new VaultHttp({ address: url });
    const t0 = Date.now();
    await expect(v.send(call(AbortSignal.timeout(100)))).rejects.toMatchObject({ reason: 'DeadlineExceeded' });
    expect(Date.now() - t0).toBeLessThan(1_000);
    v.close();
  });

  it('names a refused connection VaultUnavailable with its code only', async () => {
    const v = new VaultHttp({ address: `http://127.0.0.1:${await freePortForTest()}` });
    await expect(v.send(call(AbortSignal.timeout(1_000)))).rejects.toMatchObject({
      reason: 'VaultUnavailable',
      message: expect.stringMatching(/ECONNREFUSED$/) as unknown,
    });
    v.close();
  });

  it('stops reading an oversized answer', async () => {
    const url = await serve((_req, res) => res.end('x'.repeat(MAX_ANSWER_BYTES + 10)));
    const v = new VaultHttp({ address: url });
    await expect(v.send(call(AbortSignal.timeout(1_000)))).rejects.toMatchObject({ reason: 'BadVaultAnswer' });
    v.close();
  });

  it('sends the token and namespace headers and reports the status to observe()', async () => {
    let headers: Record<string, unknown> = {};
    const url = await serve((req, res) => {
      headers = req.headers;
      res.end('{"data":{}}');
    });
    const seen: string[] = [];
    const v = new VaultHttp({
      address: url,
      namespace: 'team',
      observe: (op, outcome) => seen.push(`${op} ${outcome}`),
    });
    expect(await v.send({ ...call(AbortSignal.timeout(1_000)), token: 't-1' })).toEqual({
      status: 200,
      body: { data: {} },
    });
    expect(headers).toMatchObject({ 'x-vault-token': 't-1', 'x-vault-namespace': 'team' });
    expect(seen).toEqual(['encrypt 200']);
    v.close();
  });

  it('cuts anything token- or key-like out of Vault error messages', () => {
    const e = statusError('encrypt', {
      status: 400,
      body: { errors: ['bad input vault:v1:QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo= with hvs.CAESIJ0123456789abcdefghij'] },
    });
    expect(e.reason).toBe('BadVaultAnswer');
    expect(e.message).toBe('Vault refused encrypt (HTTP 400): bad input [redacted] with [redacted]');
  });
});
