export * from './schema.js';
export { parseDuration } from './duration.js';
export {
  parseSecretSync,
  sourceErrors,
  specRuleErrors,
  validateSecretSync,
  type ValidationResult,
} from './validate.js';
export { DatabaseSourceSchema, PkiSourceSchema, type DatabaseSource, type PkiSource } from './dynamic.js';
