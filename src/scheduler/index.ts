export { Priority, PRIORITIES, priorityRank, higherPriority } from './priority.js';
export { systemClock, type SchedulerClock } from './clock.js';
export { DelayQueue } from './delay-queue.js';
export { ExponentialBackoff, DEFAULT_BACKOFF, type BackoffOptions } from './backoff.js';
export { WorkQueue, type WorkQueueOptions, type QueueStats, type Request, type AddOptions } from './workqueue.js';
export {
  Runner,
  type RunnerDeps,
  type RunnerHealth,
  type ErrorClass,
  type ReconcileFn,
  type ReconcileResult,
  type WorkerHealth,
} from './runner.js';
export { type Dependency } from './outage.js';
export {
  MIN_GAP_FRACTION,
  phaseMs,
  refreshDelayMs,
  readMaxAgeMs,
  startupDelayMs,
  startupRefreshNotBefore,
} from './timing.js';
