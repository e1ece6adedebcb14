/**
 * The chart against the code it deploys, without helm: every controller flag is a value with the
 * controller's default and a matching schema, the ClusterRole is what the controller calls, and
 * the generated chart files are current. test/e2e/chart.test.ts renders and installs it for real.
 */
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { runOptions, type OptionSpec } from '../src/config.js';
import { CHART_CRD_PATH } from '../src/gen/chart-crd.js';
import { generatedFiles } from '../src/gen/index.js';
import { CONTROLLER_RULES } from '../test/env/testenv.js';
import { CHART_DIR, camelFlag, chartFiles, renderHelmValuesDoc } from './chart.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const read = (path: string) => readFileSync(new URL(path, new URL('..', import.meta.url)), 'utf8');

interface JsonSchema {
  type?: string | string[];
  pattern?: string;
  enum?: string[];
  required?: string[];
  minimum?: number;
  items?: JsonSchema;
  additionalProperties?: boolean | JsonSchema;
  properties?: Record<string, JsonSchema>;
}

const values = parse(read(`${CHART_DIR}/values.yaml`)) as { config: Record<string, unknown> };
const schema = JSON.parse(read(`${CHART_DIR}/values.schema.json`)) as JsonSchema;
const configSchema = schema.properties?.config ?? {};

/** Where the chart's default deliberately differs from the controller's, and why (docs/helm-values.md says so). */
const CHART_OVERRIDES: Record<string, unknown> = {
  leaderElect: true,
  // The webhook on a port of its own: /metrics and probes stay on config.listen (docs/security.md).
  webhookListen: '0.0.0.0:8443',
};

/** The controller's default as the value a chart user would write. */
function asValue(o: OptionSpec): unknown {
  const d = o.default ?? '';
  switch (o.kind) {
    case 'boolean':
      return d === 'true';
    case 'integer':
      return Number(d);
    case 'list':
      return d === '' ? [] : d.split(',');
    default:
      return d;
  }
}

describe('chart values: every controller flag', () => {
  const flags = runOptions.map((o) => camelFlag(o.flag));

  it('each flag of vaultsync run is a key of config, and config has no other key', () => {
    expect(Object.keys(values.config).sort()).toEqual([...flags].sort());
  });

  it.each(runOptions.map((o) => [o.flag, o] as const))('--%s has the controller default', (_flag, o) => {
    const key = camelFlag(o.flag);
    expect(values.config[key]).toEqual(key in CHART_OVERRIDES ? CHART_OVERRIDES[key] : asValue(o));
  });

  it('the schema describes exactly these keys and rejects others', () => {
    expect(Object.keys(configSchema.properties ?? {}).sort()).toEqual([...flags].sort());
    expect(configSchema.additionalProperties).toBe(false);
    expect(schema.additionalProperties).toBe(false);
    expect(configSchema.required).toEqual(runOptions.filter((o) => o.required).map((o) => camelFlag(o.flag)));
  });

  it.each(runOptions.map((o) => [o.flag, o] as const))('--%s has a schema of its kind', (_flag, o) => {
    const s = configSchema.properties?.[camelFlag(o.flag)] ?? {};
    const expected = { boolean: 'boolean', integer: 'integer', list: 'array', duration: 'string' }[o.kind as string];
    expect(s.type).toBe(expected ?? 'string');
    if (o.kind === 'duration') {
      for (const d of ['500ms', '15s', '1h30m', '2.5h']) expect(new RegExp(s.pattern ?? '^$').test(d), d).toBe(true);
      expect(new RegExp(s.pattern ?? '').test('soon')).toBe(false);
    }
    if (o.kind === 'enum') expect(s.enum).toEqual(o.choices);
    if (o.kind === 'integer') expect(s.minimum).toBe(o.min ?? 1);
    if (o.kind === 'list') expect(s.items?.type).toBe('string');
  });

  it('camelCase keys turn back into the flag names (sprig kebabcase; proven with helm in e2e)', () => {
    for (const o of runOptions) {
      expect(camelFlag(o.flag).replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)).toBe(o.flag);
    }
  });
});

describe('chart ports', () => {
  const chartValues = parse(read(`${CHART_DIR}/values.yaml`)) as {
    config: { listen: string; webhookListen: string };
    service: { port: number; webhookPort: number };
    networkPolicy: Record<string, unknown>;
  };
  const port = (hostPort: string) => Number(/:([0-9]+)$/.exec(hostPort)?.[1]);

  it('serves the webhook on its own port, apart from metrics and probes, on the Service ports of the same number', () => {
    expect(port(chartValues.config.webhookListen)).not.toBe(port(chartValues.config.listen));
    expect(chartValues.service.webhookPort).toBe(port(chartValues.config.webhookListen));
    expect(chartValues.service.port).toBe(port(chartValues.config.listen));
  });

  it('lets the NetworkPolicy admit the webhook and metrics callers separately', () => {
    expect(Object.keys(chartValues.networkPolicy)).toEqual(expect.arrayContaining(['webhookFrom', 'metricsFrom']));
    expect(chartValues.networkPolicy).not.toHaveProperty('ingressFrom');
  });
});

describe('chart RBAC', () => {
  const normalize = (rules: { apiGroups: string[]; resources: string[]; verbs: string[] }[]) =>
    rules
      .map((r) => ({
        apiGroups: [...r.apiGroups].sort(),
        resources: [...r.resources].sort(),
        verbs: [...r.verbs].sort(),
      }))
      .sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));

  it("the ClusterRole's rules are the harness's CONTROLLER_RULES except leases (a Role in the controller namespace)", () => {
    const clusterRules = parse(read(`${CHART_DIR}/files/clusterrole-rules.yaml`)) as Parameters<typeof normalize>[0];
    const namespaced = CONTROLLER_RULES.filter((r) => !r.resources.includes('leases'));
    expect(normalize(clusterRules)).toEqual(normalize(namespaced));
  });

  it('grants no wildcard and no verb the controller does not call', () => {
    const clusterRules = parse(read(`${CHART_DIR}/files/clusterrole-rules.yaml`)) as Parameters<typeof normalize>[0];
    const all = clusterRules.flatMap((r) => [...r.apiGroups, ...r.resources, ...r.verbs]);
    expect(all).not.toContain('*');
    const verbs = new Set(clusterRules.flatMap((r) => r.verbs));
    expect([...verbs].sort()).toEqual(['create', 'delete', 'get', 'list', 'patch', 'update', 'watch']);
    // Nothing the code never calls: no patch of Secrets, no update of status or events, no events.k8s.io.
    const secretVerbs = clusterRules.find((r) => r.resources.includes('secrets'))?.verbs;
    expect(secretVerbs).not.toContain('patch');
    expect(clusterRules.flatMap((r) => r.apiGroups)).not.toContain('events.k8s.io');
    // Rollout restarts: patch of the three workload kinds, nothing else in apps (no get, no update).
    expect(normalize(clusterRules.filter((r) => r.apiGroups.includes('apps')))).toEqual(
      normalize([{ apiGroups: ['apps'], resources: ['deployments', 'statefulsets', 'daemonsets'], verbs: ['patch'] }]),
    );
  });
});

describe('generated chart files', () => {
  it.each(chartFiles(root).map((f) => [f.path, f] as const))('%s is up to date (npm run gen:chart)', (path, f) => {
    expect(read(path), `${path} is stale: run npm run gen:chart`).toBe(f.content);
  });

  it("the chart's CRD is a template generated with crds/ (npm run gen covers it), and the chart has no crds/ folder", () => {
    expect(generatedFiles().map((f) => f.path)).toEqual(
      expect.arrayContaining(['crds/vaultsync.io_secretsyncs.yaml', CHART_CRD_PATH]),
    );
    // Helm would install a crds/ folder before the templates and then refuse the templated copy.
    expect(existsSync(new URL(`${CHART_DIR}/crds`, new URL('..', import.meta.url)))).toBe(false);
    const template = read(CHART_CRD_PATH);
    expect(template).toContain('{{- if .Values.crds.enabled }}');
    expect(template).toContain('helm.sh/resource-policy: keep');
  });

  it('the values reference documents every config value with its default, and refuses an undocumented value', () => {
    const doc = read('docs/helm-values.md');
    for (const o of runOptions) expect(doc).toContain(`| \`config.${camelFlag(o.flag)}\` |`);
    expect(doc).toContain('| `config.vaultTimeout` | `"10s"` |');
    expect(() => renderHelmValuesDoc('# -- documented\na: 1\nb:\n  c: 2\n')).toThrow(/no "# --" comment above b.c/);
  });
});
