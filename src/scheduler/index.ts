export { Priority, PRIORITIES, priorityRank, higherPriority } from './priority.js';
export { systemClock, type SchedulerClock } from './clock.js';
export { jitteredInterval, REFRESH_JITTER_FRACTION } from './jitter.js';
export { ExponentialBackoff, DEFAULT_BACKOFF, type BackoffOptions } from './backoff.js';
export { WorkQueue, type WorkQueueOptions, type QueueStats } from './workqueue.js';
export {
  Controller,
  type ControllerDeps,
  type ControllerHealth,
  type ControllerMetrics,
  type ReconcileFn,
  type ReconcileOutcome,
  type ReconcileResult,
  type WorkerHealth,
} from './controller.js';
