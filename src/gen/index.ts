/**
 * Every file `npm run gen` writes: the CRD (in crds/ and as the chart's template), the API reference,
 * the configuration and the metrics list.
 * Only scripts/gen.ts, scripts/chart.ts and tests import this folder; the controller never does
 * (src/imports.test.ts fails if it did), so no generator is loaded at run time and config.ts
 * can use the API module without a cycle.
 */
import { CHART_CRD_PATH, renderChartCrdTemplate } from './chart-crd.js';
import { configurationDoc } from './configuration.js';
import { renderCrdYaml } from './crd.js';
import { metricsDoc } from './metrics.js';
import { renderReference } from './reference.js';

export interface GeneratedFile {
  /** Path relative to the repository root. */
  path: string;
  content: string;
}

/** CI (npm run gen -- --check) and crd.test.ts fail when one of these differs from the committed file. */
export function generatedFiles(): GeneratedFile[] {
  return [
    { path: 'crds/vaultsync.io_secretsyncs.yaml', content: renderCrdYaml() },
    { path: 'docs/reference/secretsync.md', content: renderReference() },
    { path: 'docs/configuration.md', content: configurationDoc() },
    { path: 'docs/metrics.md', content: metricsDoc() },
    { path: CHART_CRD_PATH, content: renderChartCrdTemplate() },
  ];
}

export { renderCrdYaml };
