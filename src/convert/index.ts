export { convertManifests, type Conversion, type ConvertedSecretSync, type ConvertResult } from './convert.js';
export type { Drop } from './fields.js';
export { parseManifests, type Manifest } from './manifests.js';
export { runConvert, toYaml, type ConvertIo } from './run.js';
export { convertTemplate } from './template.js';
