/**
 * Every file `npm run gen` writes: the API's (CRD, reference, configuration) and the metrics list.
 * Lives outside src/api so the API module does not depend on the server's metrics.
 */
import { generatedFiles as apiGeneratedFiles, type GeneratedFile } from './api/index.js';
import { metricsDoc } from './server/metrics-doc.js';

export type { GeneratedFile };

export function generatedFiles(): GeneratedFile[] {
  return [...apiGeneratedFiles(), { path: 'docs/metrics.md', content: metricsDoc() }];
}
