import { describe, expect, it } from 'vitest';
import { PathIndex } from './path-index.js';

function index(): PathIndex {
  const i = new PathIndex();
  i.upsert('team-a/app', 'secret', 'myapp/config');
  i.upsert('team-b/app', 'secret', 'myapp/config');
  i.upsert('team-a/db', 'secret', 'myapp/db');
  i.upsert('team-a/kv', 'kv/team-a', 'app/config');
  i.upsert('team-c/kv', 'kv', 'team-a/app/config');
  i.upsert('team-d/literal', 'secret', 'data/raw');
  return i;
}

describe('PathIndex', () => {
  it.each([
    ['secret/myapp/config', ['team-a/app', 'team-b/app']],
    ['/secret/myapp/config/', ['team-a/app', 'team-b/app']],
    ['secret/data/myapp/config', ['team-a/app', 'team-b/app']],
    ['secret/myapp/db', ['team-a/db']],
    ['secret/myapp', []],
    ['secret/myapp/config/extra', []],
    ['other/myapp/config', []],
    // The longest known mount wins: kv/team-a, not kv.
    ['kv/team-a/app/config', ['team-a/kv']],
    ['kv/team-a/data/app/config', ['team-a/kv']],
    // data/ may also be the first segment of a real path under the mount: both readings count.
    ['secret/data/raw', ['team-d/literal']],
    ['secret/data/data/raw', ['team-d/literal']],
  ])('%s → %j', (path, keys) => {
    expect(index().lookup(path).sort()).toEqual([...keys].sort());
  });

  it('follows updates and deletes', () => {
    const i = index();
    i.upsert('team-a/app', 'secret', 'moved/config');
    expect(i.lookup('secret/myapp/config')).toEqual(['team-b/app']);
    expect(i.lookup('secret/moved/config')).toEqual(['team-a/app']);
    i.remove('team-b/app');
    expect(i.lookup('secret/myapp/config')).toEqual([]);
    // The last SecretSync of mount kv/team-a leaves: the path now resolves under mount kv.
    i.remove('team-a/kv');
    expect(i.lookup('kv/team-a/app/config')).toEqual(['team-c/kv']);
    i.remove('team-c/kv');
    i.remove('team-c/kv');
    expect(i.lookup('kv/team-a/app/config')).toEqual([]);
  });

  it('answers by mount and path directly', () => {
    expect(index().syncsReadingPath('kv/team-a', 'app/config')).toEqual(['team-a/kv']);
    expect(index().syncsReadingPath('secret', 'nothing')).toEqual([]);
  });
});

describe('PathIndex with several locations per SecretSync', () => {
  it('finds a SecretSync by any of its locations and forgets all of them on remove', () => {
    const i = new PathIndex();
    i.set('team-a/multi', [
      { mount: 'secret', path: 'common' },
      { mount: 'kv/team-a', path: 'db' },
      { mount: 'secret', path: 'common' },
    ]);
    i.upsert('team-b/app', 'secret', 'common');
    expect(i.lookup('secret/common').sort()).toEqual(['team-a/multi', 'team-b/app']);
    expect(i.lookup('kv/team-a/data/db')).toEqual(['team-a/multi']);
    i.set('team-a/multi', [{ mount: 'secret', path: 'common' }]);
    expect(i.lookup('kv/team-a/db')).toEqual([]);
    i.remove('team-a/multi');
    expect(i.lookup('secret/common')).toEqual(['team-b/app']);
  });
});
