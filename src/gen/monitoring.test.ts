/**
 * The chart's monitoring files against the docs and the code: the PrometheusRule's alerts are the
 * ones docs/operations.md suggests, and every metric an alert or a dashboard panel names is one the
 * controller exports (vaultsync_* as docs/metrics.md lists them, process and Node.js metrics as the
 * registry really registers them). A renamed metric fails here, not silently in Grafana.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { createMetrics } from '../server/metrics.js';

const read = (path: string) => readFileSync(new URL(`../../${path}`, import.meta.url), 'utf8');

interface Rule {
  alert: string;
  expr: string;
  for: string;
  annotations?: Record<string, string>;
}

interface Panel {
  id: number;
  type: string;
  title: string;
  targets?: { expr: string }[];
}

const ruleFile = parse(read('charts/vaultsync/files/prometheus-rules.yaml')) as {
  rules: Rule[];
  perSecretSyncRules: Rule[];
};
const dashboard = JSON.parse(read('charts/vaultsync/files/grafana-dashboard.json')) as {
  title: string;
  uid: string;
  panels: Panel[];
};

/** The YAML block under "Suggested alerts" in docs/operations.md. */
function documentedRules(): Rule[] {
  const doc = read('docs/operations.md');
  const start = doc.indexOf('Suggested alerts');
  const block = /```yaml\n([\s\S]*?)```/.exec(doc.slice(start));
  if (start === -1 || !block) throw new Error('docs/operations.md has no "Suggested alerts" YAML block');
  const groups = (parse(block[1]!) as { groups: { rules: Rule[] }[] }).groups;
  return groups.flatMap((g) => g.rules);
}

/** Metric names in a PromQL expression: ours, and the standard process/Node.js ones. */
export function metricNames(expr: string): string[] {
  return [...expr.matchAll(/\b(?:vaultsync_|process_|nodejs_)[a-z0-9_]+\b/g)].map((m) => m[0]);
}

/** Every series name the controller can export, from the real registry (per-SecretSync series included). */
async function exported(): Promise<Set<string>> {
  const { registry } = createMetrics(undefined, { defaultMetrics: true, perSecretSync: true });
  const names = new Set<string>();
  for (const m of registry.getMetricsAsArray()) {
    names.add(m.name);
    if (String(m.type) === 'histogram') for (const s of ['_bucket', '_sum', '_count']) names.add(`${m.name}${s}`);
  }
  // Default metrics register once a collection has run.
  await registry.metrics();
  for (const m of registry.getMetricsAsArray()) names.add(m.name);
  return names;
}

/** The vaultsync_* names docs/metrics.md lists, with their histogram series. */
function documented(): Set<string> {
  const names = new Set<string>();
  for (const m of read('docs/metrics.md').matchAll(/^\| `([a-z0-9_]+)` \| (\w+) \|/gm)) {
    names.add(m[1]!);
    if (m[2] === 'histogram') for (const s of ['_bucket', '_sum', '_count']) names.add(`${m[1]!}${s}`);
  }
  return names;
}

async function unknownMetrics(exprs: string[]): Promise<string[]> {
  const code = await exported();
  const docs = documented();
  return exprs
    .flatMap(metricNames)
    .filter((n) => !code.has(n) || (/^vaultsync_(?!process_|nodejs_)/.test(n) && !docs.has(n)));
}

describe('PrometheusRule alerts (charts/vaultsync/files/prometheus-rules.yaml)', () => {
  const normalize = (expr: string) => expr.replace(/\s+/g, ' ').trim();

  it('are the alerts of docs/operations.md: same names, expressions and durations', () => {
    const docs = documentedRules().map((r) => ({ alert: r.alert, expr: normalize(r.expr), for: r.for }));
    const chart = ruleFile.rules.map((r) => ({ alert: r.alert, expr: normalize(r.expr), for: r.for }));
    expect(chart).toEqual(docs);
    expect(docs.length).toBeGreaterThanOrEqual(7);
  });

  it('each carries a summary and a description', () => {
    for (const r of [...ruleFile.rules, ...ruleFile.perSecretSyncRules]) {
      expect(r.annotations?.summary, r.alert).toBeTruthy();
      expect(r.annotations?.description, r.alert).toBeTruthy();
    }
  });

  it('name only metrics the controller exports and docs/metrics.md lists', async () => {
    const exprs = [...ruleFile.rules, ...ruleFile.perSecretSyncRules].map((r) => r.expr);
    expect(exprs.flatMap(metricNames).length).toBeGreaterThan(8);
    expect(await unknownMetrics(exprs)).toEqual([]);
  });

  it('the check would catch a renamed metric', async () => {
    expect(await unknownMetrics(['max(vaultsync_secretsyncs_ready) > 0', 'rate(vaultsync_syncs_total[5m])'])).toEqual([
      'vaultsync_secretsyncs_ready',
    ]);
  });
});

describe('Grafana dashboard (charts/vaultsync/files/grafana-dashboard.json)', () => {
  const panels = dashboard.panels.filter((p) => p.type !== 'row');

  it('parses, has a uid and panels with unique ids, each with a query', () => {
    expect(dashboard.uid).toBe('vaultsync');
    expect(panels.length).toBeGreaterThan(10);
    expect(new Set(dashboard.panels.map((p) => p.id)).size).toBe(dashboard.panels.length);
    for (const p of panels) expect(p.targets?.length, p.title).toBeGreaterThan(0);
  });

  it('queries only metrics the controller exports and docs/metrics.md lists', async () => {
    const exprs = panels.flatMap((p) => p.targets?.map((t) => t.expr) ?? []);
    expect(exprs.flatMap(metricNames).length).toBeGreaterThan(15);
    expect(await unknownMetrics(exprs)).toEqual([]);
  });
});
