/**
 * Why a key was queued. The queue hands out higher priorities first and keeps FIFO order
 * within one priority. Strict priority can delay periodic work while pushes keep coming;
 * that is intended: a push means "Vault just changed", a periodic refresh is only a safety net.
 */
export const Priority = {
  /** A webhook said the Vault path changed. */
  Push: 'push',
  /** Never synced, or the spec changed. */
  New: 'new',
  /** Refresh timer or retry after an error. */
  Periodic: 'periodic',
} as const;

export type Priority = (typeof Priority)[keyof typeof Priority];

/** All priorities, highest first. Strings, so they can be metric labels as they are. */
export const PRIORITIES: readonly Priority[] = [Priority.Push, Priority.New, Priority.Periodic];

/** 0 is the highest priority. */
export function priorityRank(p: Priority): number {
  return PRIORITIES.indexOf(p);
}

/** The more urgent of two priorities. */
export function higherPriority(a: Priority, b: Priority): Priority {
  return priorityRank(a) <= priorityRank(b) ? a : b;
}
