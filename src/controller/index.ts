export { reconcile, reconcileSettings, type ReconcileDeps, type ReconcileSettings } from './reconcile.js';
export {
  SecretSyncController,
  WATCH_STALL_MS,
  type SecretSyncControllerDeps,
  type WatchedCache,
} from './secretsync-controller.js';
export { classifyError, describeError } from './classify.js';
export { refreshIntervalMs, initialDelayMs, type RefreshSettings } from './interval.js';
export { identityFor, type IdentityDefaults } from './identity.js';
export { READY } from './status.js';
export * from './types.js';
