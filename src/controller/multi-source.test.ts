/**
 * Several source items per SecretSync: each read with the SecretSync's identity, rendered on its
 * own, merged by the documented rule; status and the Secret carry every item's version.
 */
import { describe, expect, it } from 'vitest';
import type { SecretSync } from '../api/index.js';
import { Priority } from '../scheduler/index.js';
import { reconcile } from './reconcile.js';
import { KEY, NS, decoded, fakeDeps, secretSync } from './testing/fakes.js';

const request = { key: KEY, priority: Priority.New, fresh: false };
const run = (h: ReturnType<typeof fakeDeps>) => reconcile(request, h.deps, new AbortController().signal);

function withSources(sources: NonNullable<SecretSync['spec']['sources']>) {
  return secretSync((s) => {
    delete s.spec.vault.kv;
    s.spec.sources = sources;
  });
}

describe('reconcile with several sources', () => {
  it('reads every item and merges: later all-keys win, picks win over all-keys', async () => {
    const h = fakeDeps();
    h.vault.put('secret/common', { LOG: 'info', REGION: 'eu', shared: 'from-common' });
    h.vault.put('secret/app', { LOG: 'debug', other: 'x' });
    h.vault.put('kv/db', { creds: { user: 'app', password: 'pw' } });
    h.vault.put('kv/db', { creds: { user: 'app', password: 'pw2' } });
    h.syncs.set(
      withSources([
        { kv: { mount: 'secret', path: 'common' } },
        { kv: { mount: 'secret', path: 'app' } },
        {
          name: 'db',
          kv: { mount: 'kv', path: 'db' },
          data: [
            { secretKey: 'shared', property: 'creds.user' },
            { secretKey: 'DB_PASSWORD', property: 'creds.password' },
          ],
        },
      ]),
    );
    await run(h);
    expect(decoded(h.store.current(NS, 'myapp'))).toEqual({
      LOG: 'debug',
      REGION: 'eu',
      other: 'x',
      shared: 'app',
      DB_PASSWORD: 'pw2',
    });
    expect(h.vault.requests.map((r) => `${r.mount}/${r.path}`)).toEqual(['secret/common', 'secret/app', 'kv/db']);
    const sync = h.syncs.get(KEY)!;
    expect(sync.status).toMatchObject({ vaultVersion: 1, sourceVersions: [1, 1, 2] });
    expect(sync.status?.conditions?.[0]?.message).toBe('Secret myapp matches Vault versions 1, 1, 2');
    expect(h.store.current(NS, 'myapp')?.metadata.annotations?.['vaultsync.io/vault-version']).toBe('1,1,2');
  });

  it('refuses one secretKey picked by two sources, terminally, before reading Vault', async () => {
    const h = fakeDeps();
    h.syncs.set(
      withSources([
        { kv: { mount: 'secret', path: 'a' }, data: [{ secretKey: 'K', property: 'x' }] },
        { kv: { mount: 'secret', path: 'b' }, data: [{ secretKey: 'K', property: 'y' }] },
      ]),
    );
    await expect(run(h)).rejects.toMatchObject({ reason: 'InvalidSpec', terminal: true });
    expect(h.vault.requests).toEqual([]);
  });

  it('writes nothing when one source fails, and keeps the existing Secret', async () => {
    const h = fakeDeps();
    h.vault.put('secret/a', { A: '1' });
    h.vault.put('secret/b', { B: '2' });
    h.syncs.set(withSources([{ kv: { mount: 'secret', path: 'a' } }, { kv: { mount: 'secret', path: 'b' } }]));
    await run(h);
    const before = h.store.current(NS, 'myapp');
    h.vault.put('secret/a', { A: 'new' });
    h.vault.fail('secret/b', new Error('boom'));
    await expect(run(h)).rejects.toMatchObject({ reason: 'VaultUnavailable' });
    expect(h.store.current(NS, 'myapp')).toEqual(before);
  });

  it('drops sourceVersions when the spec goes back to one source', async () => {
    const h = fakeDeps();
    h.vault.put('secret/a', { A: '1' });
    h.vault.put('secret/b', { B: '2' });
    h.syncs.set(withSources([{ kv: { mount: 'secret', path: 'a' } }, { kv: { mount: 'secret', path: 'b' } }]));
    await run(h);
    expect(h.syncs.get(KEY)?.status?.sourceVersions).toEqual([1, 1]);
    const status = h.syncs.get(KEY)!.status;
    h.syncs.set(withSources([{ kv: { mount: 'secret', path: 'a' } }]));
    h.syncs.get(KEY)!.status = status;
    await run(h);
    expect(h.syncs.get(KEY)?.status?.sourceVersions).toBeUndefined();
  });
});
