import { gzipSync } from 'node:zlib';
import { beforeEach, describe, expect, it } from 'vitest';
import { MAX_RESPONSE_BYTES } from './connection.js';
import { fakeVaultPerTest, rejection, type Harness } from './testing/testkit.js';

/*
 * A SecretSync may point spec.vault.address at any server. Whatever that server answers, the
 * controller reads at most MAX_RESPONSE_BYTES of it: an oversize or compressed answer must not be
 * buffered and parsed whole (a tenant could otherwise exhaust the controller's memory).
 */

const vault = fakeVaultPerTest(() => undefined);
let h: Harness;

beforeEach(() => {
  h = vault.setup();
});

const kvBody = (value: string) =>
  JSON.stringify({
    data: { data: { value }, metadata: { version: 1, created_time: '', deletion_time: '', destroyed: false } },
  });

const read = () => h.reader.readKv({ identity: h.id(), mount: 'secret', path: 'app/config' });

describe('the size of Vault answers', () => {
  it('reads an answer just under the bound', async () => {
    const value = 'v'.repeat(MAX_RESPONSE_BYTES - 1024);
    vault.fake.onRead = () => ({ status: 200, raw: kvBody(value) });
    expect((await read()).data.value).toHaveLength(value.length);
  });

  it('refuses an answer over the bound as BadVaultData, naming the address', async () => {
    vault.fake.onRead = () => ({ status: 200, raw: kvBody('v'.repeat(4 * MAX_RESPONSE_BYTES)) });
    const err = await rejection(read());
    expect(err).toMatchObject({ reason: 'BadVaultData' });
    expect(err.message).toContain(`Vault at ${vault.fake.url} answered`);
    expect(err.message).toContain('more data than any Secret can hold');
    expect(h.metrics.counts.requests.get('read error')).toBe(1);
  });

  it('does not inflate a compressed answer, which could be a small body of unbounded size', async () => {
    // 64 MiB of JSON in about 64 KiB of gzip.
    const bomb = gzipSync(kvBody('z'.repeat(64 * 1024 * 1024)));
    expect(bomb.length).toBeLessThan(MAX_RESPONSE_BYTES);
    vault.fake.onRead = () => ({ status: 200, raw: bomb, headers: { 'content-encoding': 'gzip' } });
    const err = await rejection(read());
    expect(err).toMatchObject({ reason: 'BadVaultData' });
    expect(err.message).toContain('the answer is compressed (gzip)');
  }, 15_000);
});
