import { describe, expect, it } from 'vitest';
import { NamespaceQuota } from './quota.js';
import { secretSync } from './testing/fakes.js';

const sync = (name: string, created: string) =>
  secretSync((s) => {
    s.metadata.name = name;
    s.metadata.creationTimestamp = created;
  });

describe('NamespaceQuota', () => {
  it('lets the oldest SecretSyncs of a namespace sync and refuses the newest, terminally', () => {
    const q = new NamespaceQuota(2);
    q.upsert('team-a/c', sync('c', '2025-01-03T00:00:00Z'));
    q.upsert('team-a/a', sync('a', '2025-01-01T00:00:00Z'));
    q.upsert('team-a/b', sync('b', '2025-01-02T00:00:00Z'));
    q.upsert('team-b/x', sync('x', '2025-01-09T00:00:00Z'));
    expect(q.check('team-a/a')).toBeUndefined();
    expect(q.check('team-a/b')).toBeUndefined();
    expect(q.check('team-b/x')).toBeUndefined(); // another namespace has its own bound
    const over = q.check('team-a/c');
    expect(over).toMatchObject({ reason: 'TooManySecretSyncs', terminal: true });
    expect(over?.message).toContain('--namespace-max-secretsyncs');
  });

  it('orders equal creation times by name, and hands back the waiting keys when one goes', () => {
    const q = new NamespaceQuota(1);
    q.upsert('ns/b', sync('b', '2025-01-01T00:00:00Z'));
    q.upsert('ns/a', sync('a', '2025-01-01T00:00:00Z'));
    expect(q.check('ns/a')).toBeUndefined();
    expect(q.check('ns/b')).toBeDefined();
    expect(q.remove('ns/a')).toEqual(['ns/b']);
    expect(q.check('ns/b')).toBeUndefined();
    expect(q.remove('ns/b')).toEqual([]);
  });

  it('does nothing when the bound is 0', () => {
    const q = new NamespaceQuota(0);
    q.upsert('ns/a', sync('a', '2025-01-01T00:00:00Z'));
    expect(q.enabled).toBe(false);
    expect(q.check('ns/a')).toBeUndefined();
  });
});
