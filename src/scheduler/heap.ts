export interface HeapEntry<K, V> {
  readonly key: K;
  readonly value: V;
}

interface Slot<K, V> {
  key: K;
  value: V;
}

/**
 * A binary min-heap of values addressed by key: at most one entry per key, and an entry
 * can be updated or removed in O(log n) because each key's position is tracked.
 */
export class KeyedMinHeap<K, V> {
  readonly #slots: Slot<K, V>[] = [];
  readonly #index = new Map<K, number>();
  readonly #less: (a: V, b: V) => boolean;

  constructor(less: (a: V, b: V) => boolean) {
    this.#less = less;
  }

  get size(): number {
    return this.#slots.length;
  }

  peek(): HeapEntry<K, V> | undefined {
    const top = this.#slots[0];
    return top === undefined ? undefined : { key: top.key, value: top.value };
  }

  get(key: K): V | undefined {
    const i = this.#index.get(key);
    return i === undefined ? undefined : this.#slot(i).value;
  }

  /** Inserts `key`, or replaces its value and restores heap order. */
  set(key: K, value: V): void {
    const i = this.#index.get(key);
    if (i === undefined) {
      this.#slots.push({ key, value });
      this.#index.set(key, this.#slots.length - 1);
      this.#up(this.#slots.length - 1);
      return;
    }
    this.#slot(i).value = value;
    this.#restore(i);
  }

  delete(key: K): boolean {
    const i = this.#index.get(key);
    if (i === undefined) return false;
    this.#removeAt(i);
    return true;
  }

  pop(): HeapEntry<K, V> | undefined {
    const top = this.peek();
    if (top !== undefined) this.#removeAt(0);
    return top;
  }

  clear(): void {
    this.#slots.length = 0;
    this.#index.clear();
  }

  #slot(i: number): Slot<K, V> {
    const s = this.#slots[i];
    if (s === undefined) throw new Error(`KeyedMinHeap: no slot ${i} (index out of step)`);
    return s;
  }

  #removeAt(i: number): void {
    const removed = this.#slot(i);
    const last = this.#slots.pop();
    this.#index.delete(removed.key);
    if (last === undefined || last === removed) return;
    this.#slots[i] = last;
    this.#index.set(last.key, i);
    this.#restore(i);
  }

  #restore(i: number): void {
    if (!this.#up(i)) this.#down(i);
  }

  #swap(i: number, j: number): void {
    const a = this.#slot(i);
    const b = this.#slot(j);
    this.#slots[i] = b;
    this.#slots[j] = a;
    this.#index.set(b.key, i);
    this.#index.set(a.key, j);
  }

  /** Returns whether the entry moved. */
  #up(i: number): boolean {
    let moved = false;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.#less(this.#slot(i).value, this.#slot(parent).value)) break;
      this.#swap(i, parent);
      i = parent;
      moved = true;
    }
    return moved;
  }

  #down(i: number): void {
    const n = this.#slots.length;
    for (;;) {
      const left = 2 * i + 1;
      const right = left + 1;
      let smallest = i;
      if (left < n && this.#less(this.#slot(left).value, this.#slot(smallest).value)) smallest = left;
      if (right < n && this.#less(this.#slot(right).value, this.#slot(smallest).value)) smallest = right;
      if (smallest === i) return;
      this.#swap(i, smallest);
      i = smallest;
    }
  }
}
