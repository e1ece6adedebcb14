import { describe, expect, it } from 'vitest';
import { isNewer, Store, type ChangeKind, type KubeObject } from './store.js';

const obj = (name: string, rv: string, uid = `uid-${name}`): KubeObject => ({
  metadata: { namespace: 'ns', name, uid, resourceVersion: rv },
});

function store() {
  const changes: string[] = [];
  let t = 0;
  const s = new Store<KubeObject>(
    (kind: ChangeKind, key) => changes.push(`${kind}:${key}`),
    undefined,
    () => t,
  );
  return { s, changes, advance: (ms: number) => (t += ms) };
}

describe('isNewer', () => {
  it('orders numeric resourceVersions beyond 2^53 and refuses to order anything else', () => {
    expect(isNewer('10', '9')).toBe(true);
    expect(isNewer('9', '10')).toBe(false);
    expect(isNewer('9007199254740993', '9007199254740992')).toBe(true);
    expect(isNewer('abc', '1')).toBe(false);
    expect(isNewer(undefined, '1')).toBe(false);
  });
});

describe('Store', () => {
  it('keeps an object written after the list snapshot when a relist does not contain it', () => {
    const { s, changes } = store();
    s.apply(obj('a', '5'));
    s.apply(obj('mine', '120'), false); // our own create, after the list below was taken
    s.replace('ns', [obj('b', '90')], '100');
    expect(s.get('ns/mine')).toBeDefined();
    expect(s.get('ns/a')).toBeUndefined();
    expect(changes).toEqual(['add:ns/a', 'add:ns/b', 'delete:ns/a']);
  });

  it('ignores a delete event older than the cached object of that name', () => {
    const { s } = store();
    s.apply(obj('a', '20', 'new-uid'), false); // recreated by us
    s.remove(obj('a', '15', 'old-uid')); // the old object's delete, arriving late
    expect(s.get('ns/a')?.metadata.uid).toBe('new-uid');
  });

  it('forgets a tombstone after its time, so a recreated uid could come back', () => {
    const { s, advance } = store();
    s.apply(obj('a', '5'));
    s.removeLocal('ns/a', 'uid-a');
    s.apply(obj('a', '6'));
    expect(s.get('ns/a')).toBeUndefined();
    advance(11 * 60_000);
    s.apply(obj('a', '7'));
    expect(s.get('ns/a')?.metadata.resourceVersion).toBe('7');
  });
});
