export * from './schema.js';
export { parseDuration } from './duration.js';
export { parseSecretSync, specRuleErrors, validateSecretSync, type ValidationResult } from './validate.js';
