/**
 * The Source seam: a kind of secret plugs in as one object implementing Source; reconcile does
 * not branch on it. A fake "lease" source stands in for the dynamic sources to come.
 */
import { describe, expect, it } from 'vitest';
import type { SourceItem } from '../api/index.js';
import { Priority } from '../scheduler/index.js';
import type { Source, SourceRequest } from '../sources/index.js';
import { reconcile } from './reconcile.js';
import { KEY, NS, decoded, fakeDeps, secretSync } from './testing/fakes.js';

/** Selects SecretSyncs whose path starts with `lease/`; hands out a versioned credential. */
function leaseSource(log: string[]): Source & { requests: SourceRequest[] } {
  const requests: SourceRequest[] = [];
  return {
    kind: 'lease',
    requests,
    target: (item: SourceItem) =>
      item.kv?.path.startsWith('lease/') ? { mount: 'database', path: item.kv.path } : undefined,
    read: (req) => {
      requests.push(req);
      log.push('read');
      return Promise.resolve({ data: { username: 'v-app-1', password: 'pw-1' }, version: 7, refreshWithinMs: 5_000 });
    },
    release: (key) => {
      log.push(`release ${key}`);
      return Promise.resolve();
    },
  };
}

const request = { key: KEY, priority: Priority.New, fresh: false };

describe('reconcile with a second kind of source', () => {
  it('reads through the source the spec selects, renders its values and looks again when it asks', async () => {
    const h = fakeDeps();
    const log: string[] = [];
    const lease = leaseSource(log);
    const deps = { ...h.deps, sources: [lease, ...h.deps.sources] };
    h.syncs.set(
      secretSync((s) => {
        s.spec.vault.kv!.path = 'lease/app';
      }),
    );
    const result = await reconcile(request, deps, new AbortController().signal);
    expect(lease.requests).toHaveLength(1);
    expect(lease.requests[0]).toMatchObject({ target: { mount: 'database', path: 'lease/app' }, fresh: false });
    expect(h.vault.requests).toEqual([]); // KV was not asked
    expect(decoded(h.store.current(NS, 'myapp'))).toEqual({ username: 'v-app-1', password: 'pw-1' });
    expect(result.requeueAfterMs).toBe(5_000); // sooner than the refresh interval
  });

  it('releases what every source holds for a deleted SecretSync, after its Secrets are gone', async () => {
    const h = fakeDeps();
    const log: string[] = [];
    const deps = { ...h.deps, sources: [leaseSource(log), ...h.deps.sources] };
    h.syncs.set(
      secretSync((s) => {
        s.spec.vault.kv!.path = 'lease/app';
      }),
    );
    await reconcile(request, deps, new AbortController().signal);
    h.syncs.items.delete(KEY);
    expect(await reconcile(request, deps, new AbortController().signal)).toEqual({});
    expect(h.store.current(NS, 'myapp')).toBeUndefined();
    expect(log).toEqual(['read', `release ${KEY}`]);
  });
});
