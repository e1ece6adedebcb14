import { stringify } from 'yaml';
import { buildCrd, GENERATED_NOTICE, type CustomResourceDefinition } from './crd.js';

/** Where the chart's copy of the CRD lives: a template, so `helm upgrade` upgrades it (docs/upgrading.md). */
export const CHART_CRD_PATH = 'charts/vaultsync/templates/crds.yaml';

/**
 * The CRD of crds/ as a Helm template in the cert-manager style: rendered only with `crds.enabled`,
 * annotated `helm.sh/resource-policy: keep` with `crds.keep` (helm uninstall then leaves the CRD,
 * and with it every SecretSync and Secret). Only the metadata is templated; the spec is the same
 * object as crds/, so the two cannot drift (`npm run gen -- --check` covers both). The upgrade test
 * renders a changed CRD with it.
 */
export function renderChartCrdTemplate(crd: CustomResourceDefinition = buildCrd()): string {
  const spec = stringify({ spec: crd.spec }, { lineWidth: 0 });
  // Helm would read `{{` in a description or CEL rule as a template action.
  if (spec.includes('{{') || spec.includes('}}')) {
    throw new Error('the CRD spec contains "{{" or "}}", which Helm would read as a template action');
  }
  return [
    `{{- /* ${GENERATED_NOTICE} (source: src/api/schema.ts; the same CRD as crds/, templated for Helm) */ -}}`,
    '{{- if .Values.crds.enabled }}',
    `apiVersion: ${crd.apiVersion}`,
    `kind: ${crd.kind}`,
    'metadata:',
    `  name: ${crd.metadata.name}`,
    '  labels:',
    '    helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}',
    '    app.kubernetes.io/name: {{ include "vaultsync.name" . }}',
    '    app.kubernetes.io/instance: {{ .Release.Name }}',
    '    app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}',
    '    app.kubernetes.io/part-of: vaultsync',
    '    app.kubernetes.io/managed-by: {{ .Release.Service }}',
    '  {{- if .Values.crds.keep }}',
    '  annotations:',
    '    # helm uninstall leaves the CRD: deleting it would delete every SecretSync in the cluster.',
    '    helm.sh/resource-policy: keep',
    '  {{- end }}',
    spec.trimEnd(),
    '{{- end }}',
    '',
  ].join('\n');
}
