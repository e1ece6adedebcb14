export {
  renderData,
  renderSources,
  describeVersions,
  secretData,
  type ReadItem,
  renderValue,
  secretKeyProblem,
  isEnvVarName,
  checkSecretSize,
  MAX_SECRET_BYTES,
  type RenderedData,
} from './render.js';
export { contentHmac, dataDigest, type HashedContent } from './hash.js';
export { desiredSecret, targetName } from './desired.js';
