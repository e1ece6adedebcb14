export { reconcile, reconcileSettings, type ReconcileDeps, type ReconcileSettings } from './reconcile.js';
export {
  renderData,
  renderValue,
  secretKeyProblem,
  isEnvVarName,
  MAX_SECRET_BYTES,
  type RenderedData,
} from './render.js';
export { contentHmac, type HashedContent } from './hash.js';
export { desiredSecret, targetName } from './desired.js';
export { identityFor, type IdentityDefaults } from './identity.js';
export { READY } from './status.js';
export * from './types.js';
