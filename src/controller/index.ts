export { reconcile, reconcileSettings, type ReconcileDeps, type ReconcileSettings } from './reconcile.js';
export {
  SecretSyncController,
  PUSH_HOLD_MAX_MS,
  WATCH_STALL_MS,
  type SecretSyncControllerDeps,
  type WatchedCache,
} from './secretsync-controller.js';
export { classifyError, describeError } from './classify.js';
export { refreshIntervalMs, initialDelayMs, type RefreshSettings } from './interval.js';
export { identityFor, type IdentityDefaults } from './identity.js';
export * from './types.js';
export {
  RolloutRestarter,
  RESTARTED_AT_ANNOTATION,
  RESTART_DIGEST_ANNOTATION,
  type RolloutRestarterDeps,
} from './rollout.js';
export { FORCE_SYNC_ANNOTATION, RefreshMemory, decideRead, forceSyncToken, policyOf } from './refresh-policy.js';
