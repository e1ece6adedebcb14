export * from './schema.js';
export { buildCrd, renderCrdYaml, secretSyncOpenApiSchema, CRD_NAME, PRINTER_COLUMNS } from './crd.js';
export type { CustomResourceDefinition, PrinterColumn } from './crd.js';
export { parseDuration } from './duration.js';
export { generatedFiles, type GeneratedFile } from './generate.js';
export { renderReference } from './reference.js';
export type { JsonSchemaProps, ValidationRule } from './structural.js';
export { parseSecretSync, specRuleErrors, validateSecretSync, type ValidationResult } from './validate.js';
