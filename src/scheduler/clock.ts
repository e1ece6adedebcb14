import type { Clock } from '../core/types.js';

/**
 * Time and timers for the scheduler, injected so tests can drive them (vitest fake timers
 * patch the globals that `systemClock()` calls at call time, or a test passes its own).
 * Handles are opaque: whatever `setTimeout` returned is what `clearTimeout` receives.
 */
export interface SchedulerClock extends Clock {
  /** Milliseconds; only differences matter to the scheduler. */
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** Wall-clock time and Node's timers. A new object each call: nothing is shared at module level. */
export function systemClock(): SchedulerClock {
  return {
    now: () => Date.now(),
    setTimeout: (fn, ms) => setTimeout(fn, ms),
    clearTimeout: (handle) => {
      clearTimeout(handle as ReturnType<typeof setTimeout>);
    },
  };
}
