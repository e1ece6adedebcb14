import { describe, expect, it } from 'vitest';
import { ListItemSplitter } from './list-stream.js';

const list = {
  kind: 'SecretList',
  apiVersion: 'v1',
  metadata: { resourceVersion: '42', continue: 'tok"[{' },
  items: [
    { metadata: { name: 'a', annotations: { x: 'brace } bracket ] quote \\" é' } }, data: { k: 'dg==' } },
    { metadata: { name: 'b' }, data: { nested: [{ a: [1, 2, { b: '}' }] }] } },
    { metadata: { name: 'c' } },
  ],
};

function split(text: string, chunkSize: number) {
  const items: unknown[] = [];
  const s = new ListItemSplitter((raw) => items.push(raw));
  const bytes = Buffer.from(text);
  for (let i = 0; i < bytes.length; i += chunkSize) s.write(bytes.subarray(i, i + chunkSize));
  return { items, rest: s.end() };
}

describe('ListItemSplitter', () => {
  it('hands out each item and keeps the rest with empty items, whatever the chunk boundaries', () => {
    for (const text of [JSON.stringify(list), JSON.stringify(list, null, 2)]) {
      for (const size of [1, 2, 3, 7, 64, 1 << 20]) {
        const { items, rest } = split(text, size);
        expect(items).toEqual(list.items);
        expect(rest).toEqual({ ...list, items: [] });
      }
    }
  });

  it('handles an empty list and items listed before the metadata', () => {
    expect(split('{"items":[],"metadata":{"resourceVersion":"1"}}', 5)).toEqual({
      items: [],
      rest: { items: [], metadata: { resourceVersion: '1' } },
    });
    const { items, rest } = split('{"items":[{"a":1},{"b":"items"}],"metadata":{"resourceVersion":"2"}}', 4);
    expect(items).toEqual([{ a: 1 }, { b: 'items' }]);
    expect(rest).toEqual({ items: [], metadata: { resourceVersion: '2' } });
  });

  it('throws on a truncated answer or a bad item', () => {
    const s = new ListItemSplitter(() => undefined);
    s.write(Buffer.from('{"metadata":{},"items":[{"a":'));
    expect(() => s.end()).toThrow('ended early');
    expect(() => split('{"items":[{"a":tru}]}', 3)).toThrow();
  });
});
