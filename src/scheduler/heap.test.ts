import { describe, expect, it } from 'vitest';
import { KeyedMinHeap } from './heap.js';

describe('KeyedMinHeap', () => {
  it('pops in order after random inserts, updates and deletes (checked against a sorted map)', () => {
    let seed = 42;
    const rand = (n: number): number => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return seed % n;
    };
    const heap = new KeyedMinHeap<string, number>((a, b) => a < b);
    const ref = new Map<string, number>();
    for (let i = 0; i < 5_000; i++) {
      const key = `k${rand(300)}`;
      const op = rand(4);
      if (op === 3) {
        expect(heap.delete(key)).toBe(ref.delete(key));
      } else {
        const v = rand(10_000);
        heap.set(key, v);
        ref.set(key, v);
      }
      expect(heap.size).toBe(ref.size);
      if (i % 100 === 0) expect(heap.peek()?.value).toBe(ref.size ? Math.min(...ref.values()) : undefined);
    }
    for (const [k, v] of ref) expect(heap.get(k)).toBe(v);
    const popped: number[] = [];
    for (let e = heap.pop(); e !== undefined; e = heap.pop()) {
      expect(ref.get(e.key)).toBe(e.value);
      popped.push(e.value);
    }
    expect(popped).toEqual([...ref.values()].sort((a, b) => a - b));
    expect(heap.size).toBe(0);
  });
});
