import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { systemClock } from './clock.js';
import { DelayQueue } from './delay-queue.js';
import { Priority } from './priority.js';

describe('DelayQueue', () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: 0 });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('keeps the remaining schedule when a due callback throws', async () => {
    const fired: string[] = [];
    const dq = new DelayQueue<string>(systemClock(), (key) => {
      fired.push(key);
      if (key === 'bad') throw new Error('callback failed');
    });
    dq.add('bad', 100, Priority.Periodic);
    dq.add('later', 500, Priority.Periodic);
    expect(() => vi.advanceTimersByTime(100)).toThrow('callback failed');
    expect(vi.getTimerCount()).toBe(1);
    await vi.advanceTimersByTimeAsync(400);
    expect(fired).toEqual(['bad', 'later']);
    expect(dq.size).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('keeps the earliest due time and the highest priority of repeated adds', async () => {
    const fired: [string, string, number][] = [];
    const dq = new DelayQueue<string>(systemClock(), (key, p) => fired.push([key, p, Date.now()]));
    dq.add('a', 300, Priority.Push);
    dq.add('a', 900, Priority.Periodic);
    dq.add('b', 800, Priority.Periodic);
    dq.add('b', 200, Priority.Periodic);
    expect(dq.dueAt('a')).toBe(300);
    expect(dq.dueAt('b')).toBe(200);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(fired).toEqual([
      ['b', Priority.Periodic, 200],
      ['a', Priority.Push, 300],
    ]);
  });

  it('cancelling the last key clears the timer', () => {
    const dq = new DelayQueue<string>(systemClock(), () => undefined);
    dq.add('a', 300, Priority.New);
    expect(vi.getTimerCount()).toBe(1);
    expect(dq.cancel('a')).toBe(true);
    expect(vi.getTimerCount()).toBe(0);
  });
});
