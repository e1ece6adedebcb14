import type { SchedulerClock } from './clock.js';
import { KeyedMinHeap } from './heap.js';
import { higherPriority, type Priority } from './priority.js';

interface Pending {
  dueAt: number;
  priority: Priority;
  /** Ties on dueAt go first-scheduled first. */
  seq: number;
}

/**
 * Keys waiting to become ready, driven by ONE timer armed for the earliest due time
 * (never a timer per key: with thousands of SecretSyncs that is thousands of timers, and
 * a schedule lost whenever one is dropped). At most one entry per key.
 */
export class DelayQueue<K> {
  readonly #heap = new KeyedMinHeap<K, Pending>((a, b) => a.dueAt < b.dueAt || (a.dueAt === b.dueAt && a.seq < b.seq));
  readonly #clock: SchedulerClock;
  readonly #onDue: (key: K, priority: Priority) => void;
  #seq = 0;
  #timer: unknown = undefined;
  /** Due time the timer is armed for; undefined when no timer is pending. */
  #armedFor: number | undefined = undefined;

  constructor(clock: SchedulerClock, onDue: (key: K, priority: Priority) => void) {
    this.#clock = clock;
    this.#onDue = onDue;
  }

  /**
   * Makes `key` due at `dueAt`. If it is already waiting, the EARLIER due time and the
   * HIGHER priority win: a later request can bring a look forward, never push one back.
   */
  add(key: K, dueAt: number, priority: Priority): void {
    const current = this.#heap.get(key);
    if (current === undefined) {
      this.#heap.set(key, { dueAt, priority, seq: this.#seq++ });
    } else {
      const earlier = dueAt < current.dueAt;
      this.#heap.set(key, {
        dueAt: earlier ? dueAt : current.dueAt,
        priority: higherPriority(current.priority, priority),
        seq: earlier ? this.#seq++ : current.seq,
      });
    }
    this.#arm();
  }

  cancel(key: K): boolean {
    const removed = this.#heap.delete(key);
    if (this.#heap.size === 0) this.#disarm();
    return removed;
  }

  /** When `key` is due, if it is waiting. */
  dueAt(key: K): number | undefined {
    return this.#heap.get(key)?.dueAt;
  }

  get size(): number {
    return this.#heap.size;
  }

  /** Drops every waiting key and the timer. */
  clear(): void {
    this.#heap.clear();
    this.#disarm();
  }

  #arm(): void {
    const first = this.#heap.peek();
    if (first === undefined) {
      this.#disarm();
      return;
    }
    // A timer for an earlier (or the same) time is already pending: it re-arms when it fires.
    if (this.#armedFor !== undefined && this.#armedFor <= first.value.dueAt) return;
    this.#disarm();
    this.#armedFor = first.value.dueAt;
    this.#timer = this.#clock.setTimeout(
      () => {
        this.#fire();
      },
      Math.max(0, first.value.dueAt - this.#clock.now()),
    );
  }

  #disarm(): void {
    if (this.#armedFor === undefined) return;
    this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#armedFor = undefined;
  }

  #fire(): void {
    this.#timer = undefined;
    this.#armedFor = undefined;
    const now = this.#clock.now();
    try {
      for (let top = this.#heap.peek(); top !== undefined && top.value.dueAt <= now; top = this.#heap.peek()) {
        this.#heap.delete(top.key);
        this.#onDue(top.key, top.value.priority);
      }
    } finally {
      // Even if a callback threw, the remaining keys keep their schedule.
      this.#arm();
    }
  }
}
