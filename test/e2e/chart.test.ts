/**
 * The Helm chart on real parts: helm lint and the values schema; `helm template` applied with a
 * server-side dry run to the real kube-apiserver; `helm install`; then the built controller runs
 * with a token of the chart's ServiceAccount, so every API call it makes goes through the chart's
 * RBAC, and the classic flow passes. Taking one verb away from the ClusterRole breaks the sync.
 *
 * There is no kubelet (nor controller-manager) here: the chart's Deployment is accepted by the API
 * server but never runs pods. The controller process stands in for the pod, with the pod's
 * arguments as the chart renders them.
 */
import { readdirSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { parseConfig, runOptions } from '../../src/config.js';
import { call, must, waitFor } from '../env/http.js';
import { freePort, type Proc } from '../env/process.js';
import { CONTROLLER_RULES, ISSUER, REPO, TestEnv } from '../env/testenv.js';
import { camelFlag } from '../../scripts/chart.js';
import {
  aggregateClusterRoles,
  CHART,
  controllerArgs,
  objects,
  setJson,
  tools,
  type K8sObject,
  type Run,
  type Tools,
} from './helm.js';
import {
  annotateSecretSync,
  createDeployment,
  createSecretSync,
  decode,
  eventsFor,
  getDeployment,
  getSecret,
  getSecretSync,
  readyOf,
  secretSync,
  waitReady,
  waitSecret,
} from './helpers.js';

const NS = 'vaultsync-chart';
const RELEASE = 'vaultsync';
const SA = 'vaultsync'; // the release name contains the chart name, so the full name is the release name
const CANARY = 'canary-chart-3e9d0b71';

let env: TestEnv;
let failed = false;
let t: Tools;
const run = (cmd: string, args: string[], input?: string) => t.run(cmd, args, input);
const helm = (...args: string[]) => t.helm(...args);
const kubectl = (args: string[], input?: string) => t.kubectl(args, input);

const BASE = { 'config.vaultAddress': 'https://vault.example:8200' };

async function template(values: Record<string, unknown>, extra: string[] = []): Promise<Run> {
  return helm('template', RELEASE, CHART, '--namespace', NS, ...setJson({ ...BASE, ...values }), ...extra);
}

function track<T>(fn: () => Promise<T>): () => Promise<T> {
  return async () => {
    try {
      return await fn();
    } catch (err) {
      failed = true;
      throw err;
    }
  };
}

beforeAll(async () => {
  // The chart installs the CRD from its template (crds.enabled), as on a fresh cluster.
  env = await TestEnv.start({ crds: false });
  t = tools(env);

  for (const ns of [NS, 'team-x', 'team-y']) await env.createNamespace(ns);
});

afterAll(async () => {
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- undefined when beforeAll failed
  await env?.stop(failed);
});

describe('helm lint and the values schema', () => {
  it(
    'lints clean with a Vault address',
    track(async () => {
      const r = await helm('lint', CHART, ...setJson(BASE));
      expect(r.code, r.stdout + r.stderr).toBe(0);
      expect(r.stdout).toContain('1 chart(s) linted, 0 chart(s) failed');
      expect(r.stdout).not.toContain('[WARNING]');
    }),
  );

  it.each([
    [{ 'config.vaultAddress': '' }, 'config/vaultAddress'],
    [{ 'config.vaultAddress': 'vault:8200' }, 'config/vaultAddress'],
    [{ 'config.logLevel': 'loud' }, 'config/logLevel'],
    [{ 'config.vaultTimeout': 'soon' }, 'config/vaultTimeout'],
    [{ 'config.concurrency': 0 }, 'config/concurrency'],
    [{ 'config.leaderElect': 'yes' }, 'config/leaderElect'],
    [{ 'config.vaultAdress': 'https://typo:8200' }, 'vaultAdress'],
    [{ replicaCount: 2, 'config.leaderElect': false }, 'needs config.leaderElect=true'],
  ])('refuses %j before anything is applied', async (values, message) => {
    const r = await template(values);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(message);
  });
});

describe('rendered manifests on the real API server', () => {
  const everything = {
    'config.namespaces': ['team-x', 'team-y'],
    'vaultCA.bundle': '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n',
    'webhook.existingSecret': 'webhook-key',
    'webhook.namespaceKeysSecret': 'webhook-namespace-keys',
    'config.webhookListen': '0.0.0.0:9443',
    'networkPolicy.enabled': true,
    'networkPolicy.webhookFrom': [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'ci' } } }],
    'networkPolicy.metricsFrom': [
      { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } } },
      { podSelector: { matchLabels: { 'app.kubernetes.io/name': 'prometheus' } } },
    ],
    'config.webhookTrustedProxies': ['10.0.0.0/8'],
    'config.metricsPerSecretsync': true,
    'networkPolicy.egress': [{ to: [{ ipBlock: { cidr: '10.0.0.0/8' } }], ports: [{ port: 8200 }, { port: 6443 }] }],
    podAntiAffinity: 'hard',
    'serviceAccount.annotations': { 'example.com/owner': 'platform' },
    revisionHistoryLimit: 3,
    deploymentAnnotations: { 'example.com/team': 'platform' },
    openshift: true,
    initContainers: [
      {
        name: 'wait',
        image: 'busybox:1.37',
        command: ['true'],
        env: [{ name: 'RELEASE', value: '{{ .Release.Name }}' }],
      },
    ],
    extraObjects: [
      {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: '{{ include "vaultsync.fullname" . }}-extra' },
        data: { ns: '{{ .Release.Namespace }}' },
      },
      'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-extra-text\n',
    ],
    'grafanaDashboard.enabled': true,
  };

  it.each([
    ['defaults', {}],
    ['every option on', everything],
  ] as const)('%s: helm template | kubectl apply --server-side --dry-run=server is clean', async (_name, values) => {
    const t = await template(values, ['--include-crds']);
    expect(t.code, t.stderr).toBe(0);
    const kinds = objects(t.stdout).map((o) => o.kind);
    expect(kinds).toEqual(expect.arrayContaining(['CustomResourceDefinition', 'Deployment', 'ClusterRole']));
    const r = await kubectl(['apply', '--server-side', '--dry-run=server', '-f', '-'], t.stdout);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
    for (const o of objects(t.stdout)) {
      expect(r.stdout).toContain(`${o.metadata.name} serverside-applied (server dry run)`);
    }
  });

  interface Port {
    name?: string;
    port: number | string;
    targetPort?: string;
    containerPort?: number;
  }
  interface Rendered {
    kind: string;
    spec: {
      ports?: Port[];
      ingress?: { ports: Port[]; from?: unknown[] }[];
      template?: { spec: { containers: { ports: Port[]; livenessProbe: { httpGet: { port: string } } }[] } };
    };
  }
  const rendered = async (values: Record<string, unknown>) => {
    const t = await template(values);
    expect(t.code, t.stderr).toBe(0);
    const objs = objects(t.stdout) as unknown as Rendered[];
    const of = (kind: string) => objs.find((o) => o.kind === kind)?.spec;
    return { objs, of };
  };

  it('by default serves the webhook on its own port: container, Service and probes', async () => {
    const { of } = await rendered({});
    const container = of('Deployment')?.template?.spec.containers[0];
    expect(container?.ports.map((p) => [p.name, p.containerPort])).toEqual([
      ['http', 8080],
      ['webhook', 8443],
    ]);
    expect(container?.livenessProbe.httpGet.port).toBe('http');
    expect(of('Service')?.ports?.map((p) => [p.name, p.port, p.targetPort])).toEqual([
      ['http', 8080, 'http'],
      ['webhook', 8443, 'webhook'],
    ]);
  });

  it('NetworkPolicy: the webhook from webhookFrom, metrics only from metricsFrom', async () => {
    const monitoring = { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } } };
    const ingress = { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'ingress-nginx' } } };
    const both = await rendered({
      'networkPolicy.enabled': true,
      'networkPolicy.webhookFrom': [ingress],
      'networkPolicy.metricsFrom': [monitoring],
    });
    // The replicas themselves reach the webhook too: a standby forwards pushes to the leader.
    const replicas = {
      podSelector: {
        matchLabels: {
          'app.kubernetes.io/name': 'vaultsync',
          'app.kubernetes.io/instance': expect.any(String) as string,
        },
      },
    };
    expect(both.of('NetworkPolicy')?.ingress).toEqual([
      { ports: [{ port: 8443, protocol: 'TCP' }], from: [ingress, replicas] },
      { ports: [{ port: 8080, protocol: 'TCP' }], from: [monitoring] },
    ]);
    // No metricsFrom: no rule admits anyone to the metrics port; the webhook is open (signed requests).
    const none = await rendered({ 'networkPolicy.enabled': true });
    expect(none.of('NetworkPolicy')?.ingress).toEqual([{ ports: [{ port: 8443, protocol: 'TCP' }] }]);
    // One shared port: open to the peers of both.
    const shared = await rendered({
      'networkPolicy.enabled': true,
      'config.webhookListen': '',
      'networkPolicy.webhookFrom': [ingress],
      'networkPolicy.metricsFrom': [monitoring],
    });
    expect(shared.of('NetworkPolicy')?.ingress).toEqual([
      { ports: [{ port: 8080, protocol: 'TCP' }], from: [ingress, monitoring, replicas] },
    ]);
    expect(shared.of('Service')?.ports?.map((p) => p.name)).toEqual(['http']);
  });

  it('refuses the old networkPolicy.ingressFrom and a trusted proxy that is not an address', async () => {
    for (const [values, message] of [
      [{ 'networkPolicy.ingressFrom': [] }, 'ingressFrom'],
      [{ 'config.webhookTrustedProxies': ['proxy.example'] }, 'config/webhookTrustedProxies'],
    ] as const) {
      const r = await template(values);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toContain(message);
    }
  });

  it('the CRD template is the CRD of crds/, kept on uninstall unless crds.keep=false, absent with crds.enabled=false', async () => {
    type Crd = K8sObject & {
      metadata: { labels?: Record<string, string>; annotations?: Record<string, string> };
      spec: unknown;
    };
    const crdOf = async (values: Record<string, unknown>) =>
      objects((await template(values)).stdout).find((o) => o.kind === 'CustomResourceDefinition') as Crd | undefined;
    const committed = parseAllDocuments(
      await readFile(join(REPO, 'crds', 'vaultsync.io_secretsyncs.yaml'), 'utf8'),
    )[0]!.toJS() as Crd;
    const crd = await crdOf({});
    expect(crd?.spec).toEqual(committed.spec);
    expect(crd?.metadata.name).toBe(committed.metadata.name);
    expect(crd?.metadata.annotations).toEqual({ 'helm.sh/resource-policy': 'keep' });
    expect(crd?.metadata.labels?.['app.kubernetes.io/managed-by']).toBe('Helm');
    expect((await crdOf({ 'crds.keep': false }))?.metadata.annotations).toBeUndefined();
    expect(await crdOf({ 'crds.enabled': false })).toBeUndefined();
  });

  it('renders the values the other charts have: revision history, annotations, init containers, extra objects, OpenShift', async () => {
    interface Deployment {
      kind: string;
      metadata: { name: string; annotations?: Record<string, string> };
      spec: {
        revisionHistoryLimit: number;
        template: {
          spec: {
            securityContext: Record<string, unknown>;
            initContainers?: { name: string; env: { value: string }[] }[];
          };
        };
      };
    }
    const render = async (values: Record<string, unknown>) => {
      const t = await template(values);
      expect(t.code, t.stderr).toBe(0);
      return objects(t.stdout) as unknown as Deployment[];
    };
    const defaults = (await render({})).find((o) => o.kind === 'Deployment')!;
    expect(defaults.spec.revisionHistoryLimit).toBe(5);
    expect(defaults.metadata.annotations).toBeUndefined();
    expect(defaults.spec.template.spec.securityContext).toMatchObject({
      runAsUser: 65532,
      fsGroup: 65532,
      runAsNonRoot: true,
    });
    expect(defaults.spec.template.spec.initContainers).toBeUndefined();

    const objs = await render({
      revisionHistoryLimit: 2,
      deploymentAnnotations: { 'example.com/team': 'platform' },
      openshift: true,
      initContainers: [
        { name: 'wait', image: 'busybox:1.37', env: [{ name: 'RELEASE', value: '{{ .Release.Name }}' }] },
      ],
      extraObjects: [
        { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: '{{ include "vaultsync.fullname" . }}-extra' } },
        'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-text-{{ .Release.Namespace }}\n',
      ],
    });
    const d = objs.find((o) => o.kind === 'Deployment')!;
    expect(d.spec.revisionHistoryLimit).toBe(2);
    expect(d.metadata.annotations).toEqual({ 'example.com/team': 'platform' });
    // OpenShift assigns the user, group and fsGroup; the rest of the pod security context stays.
    expect(d.spec.template.spec.securityContext).toEqual({
      runAsNonRoot: true,
      seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(d.spec.template.spec.initContainers?.[0]?.env[0]?.value).toBe(RELEASE);
    const names = objs.filter((o) => o.kind === 'ConfigMap').map((o) => o.metadata.name);
    expect(names).toEqual(expect.arrayContaining([`${RELEASE}-extra`, `${RELEASE}-text-${NS}`]));
  });

  it('aggregates SecretSync rights into edit/admin and view unless rbac.aggregateToDefaultRoles=false', async () => {
    type Role = K8sObject & { metadata: { labels: Record<string, string> } };
    const aggregated = async (values: Record<string, unknown>) =>
      (objects((await template(values)).stdout) as Role[]).filter(
        (o) => o.kind === 'ClusterRole' && Object.keys(o.metadata.labels).some((l) => l.includes('aggregate-to-')),
      );
    const roles = await aggregated({});
    expect(roles.map((r) => [r.metadata.name, r.rules?.[0]?.resources, r.rules?.[0]?.verbs])).toEqual([
      [
        `${RELEASE}-edit`,
        ['secretsyncs'],
        ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete', 'deletecollection'],
      ],
      [`${RELEASE}-view`, ['secretsyncs'], ['get', 'list', 'watch']],
    ]);
    expect(await aggregated({ 'rbac.aggregateToDefaultRoles': false })).toEqual([]);
  });

  it('renders the PrometheusRule from files/prometheus-rules.yaml, the per-SecretSync alerts only with metricsPerSecretsync', async () => {
    interface Rule {
      alert: string;
      labels: Record<string, string>;
      annotations: Record<string, string>;
    }
    const rulesOf = async (values: Record<string, unknown>) => {
      const t = await template({ 'prometheusRule.enabled': true, ...values });
      expect(t.code, t.stderr).toBe(0);
      const pr = objects(t.stdout).find((o) => o.kind === 'PrometheusRule') as unknown as {
        metadata: { labels: Record<string, string> };
        spec: { groups: { rules: Rule[] }[] };
      };
      return pr;
    };
    const pr = await rulesOf({ 'prometheusRule.labels': { release: 'prom' } });
    expect(pr.metadata.labels.release).toBe('prom');
    const rules = pr.spec.groups[0]!.rules;
    expect(rules.map((r) => r.alert)).toContain('VaultSyncStale');
    expect(rules.map((r) => r.alert)).not.toContain('VaultSyncStaleSecretSync');
    expect(rules.map((r) => r.alert)).not.toContain('VaultSyncSecretSyncNotReady');
    expect(rules.every((r) => r.labels.severity === 'warning')).toBe(true);
    // Helm leaves Prometheus's own template syntax alone.
    expect(rules.find((r) => r.alert === 'VaultSyncFailures')?.annotations.summary).toContain('{{ $labels.outcome }}');
    const perObject = await rulesOf({
      'config.metricsPerSecretsync': true,
      'prometheusRule.alertLabels': { team: 'platform' },
      'prometheusRule.extraRules': [{ alert: 'Mine', expr: 'vector(1)' }],
    });
    const alerts = perObject.spec.groups[0]!.rules;
    expect(alerts.map((r) => r.alert)).toEqual(
      expect.arrayContaining(['VaultSyncStaleSecretSync', 'VaultSyncSecretSyncNotReady', 'Mine']),
    );
    // Helm merges a map value with the default: the severity stays unless set to null.
    expect(alerts.find((r) => r.alert === 'VaultSyncStale')?.labels).toEqual({ severity: 'warning', team: 'platform' });
    expect(objects((await template({})).stdout).some((o) => o.kind === 'PrometheusRule')).toBe(false);
  });

  it('renders the Grafana dashboard ConfigMap for the sidecar, with the JSON of files/', async () => {
    const t = await template({ 'grafanaDashboard.enabled': true, 'grafanaDashboard.namespace': 'monitoring' });
    expect(t.code, t.stderr).toBe(0);
    const cm = objects(t.stdout).find((o) => o.metadata.name === `${RELEASE}-dashboard`) as unknown as {
      metadata: { namespace: string; labels: Record<string, string> };
      data: Record<string, string>;
    };
    expect(cm.metadata.namespace).toBe('monitoring');
    expect(cm.metadata.labels.grafana_dashboard).toBe('1');
    const file = await readFile(join(CHART, 'files', 'grafana-dashboard.json'), 'utf8');
    expect(JSON.parse(cm.data['vaultsync.json']!)).toEqual(JSON.parse(file));
  });

  it.each(readdirSync(join(REPO, 'examples', 'helm')).filter((f) => f.endsWith('.yaml')))(
    'examples/helm/%s passes the values schema and renders',
    async (file) => {
      const r = await helm('template', RELEASE, CHART, '--namespace', NS, '-f', join(REPO, 'examples', 'helm', file));
      expect(r.code, r.stderr).toBe(0);
      expect(objects(r.stdout).some((o) => o.kind === 'Deployment')).toBe(true);
    },
  );

  it('renders a ServiceMonitor (its CRD is not on the test API server, so it is not applied)', async () => {
    const t = await template({ 'serviceMonitor.enabled': true, 'serviceMonitor.labels': { release: 'prom' } });
    expect(t.code, t.stderr).toBe(0);
    const sm = objects(t.stdout).find((o) => o.kind === 'ServiceMonitor') as unknown as {
      metadata: { labels: Record<string, string> };
      spec: { endpoints: { port: string; path: string }[] };
    };
    expect(sm.metadata.labels.release).toBe('prom');
    expect(sm.spec.endpoints).toEqual([expect.objectContaining({ port: 'http', path: '/metrics' })]);
  });

  it('passes every controller flag from its value, and the controller accepts the result', async () => {
    // A value for every option that differs from its default, valid for the controller.
    const sample: Record<string, unknown> = {};
    for (const o of runOptions) {
      const key = `config.${camelFlag(o.flag)}`;
      sample[key] = {
        boolean: true,
        integer: 7,
        list: ['team-x', 'team-y'],
        duration: '3s',
        enum: 'debug',
        string: `/x/${o.flag}`,
      }[o.kind];
    }
    Object.assign(sample, {
      'config.vaultAddress': 'https://vault.example:8200',
      'config.controllerNamespace': 'ops',
      'config.listen': '0.0.0.0:9000',
      'config.webhookListen': '0.0.0.0:9001',
      'config.hashKeySecret': 'hash-key',
      'config.leaderElect': true,
      'config.leaderElectionLeaseName': 'lease',
      'config.leaderElectionLeaseDuration': '20s',
      'config.leaderElectionRenewDeadline': '12s',
      'config.leaderElectionRetryPeriod': '3s',
      'config.tokenExpiration': '20m',
      'config.refreshDefault': '5m',
      'config.tokenPath': '/var/run/secrets/other/token',
      'config.webhookTrustedProxies': ['10.0.0.0/8', '127.0.0.1'],
      'config.webhookGlobalRateLimit': 70,
      'config.vaultAllowedAddresses': ['https://vault-2.example:8200'],
      'config.allowedSecretTypes': ['example.com/custom'],
      'config.logFormat': 'text',
      'config.webhookPeerAddress': '10.0.0.5:9001',
    });
    const t = await template(sample);
    expect(t.code, t.stderr).toBe(0);
    const args = controllerArgs(objects(t.stdout));
    for (const o of runOptions) {
      expect(
        args.some((a) => a.startsWith(`--${o.flag}=`)),
        `--${o.flag} missing`,
      ).toBe(true);
    }
    expect(args).toContain('--token-audiences=team-x,team-y');
    expect(args).toContain('--vault-qps=7');
    const pem = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
    const config = parseConfig(args, { env: {}, readFile: () => pem });
    expect(config).toMatchObject({
      namespaces: ['team-x', 'team-y'],
      controllerNamespace: 'ops',
      concurrency: 7,
      listen: { port: 9000 },
      metrics: { perSecretSync: true },
      allowedSecretTypes: ['example.com/custom'],
      tenancy: { maxWorkersPerNamespace: 7, vaultQpsPerNamespace: 7, writeQpsPerNamespace: 7 },
      webhook: {
        listen: { port: 9001 },
        trustedProxies: ['10.0.0.0/8', '127.0.0.1'],
        rateLimitPerMinute: 7,
        globalRateLimitPerMinute: 70,
      },
      leaderElection: { enabled: true, leaseName: 'lease', leaseDurationMs: 20_000 },
      logLevel: 'debug',
    });
  });

  it('with default values the arguments parse, with leader election on', async () => {
    const t = await template({});
    const args = controllerArgs(objects(t.stdout));
    const config = parseConfig(args, { env: { POD_NAMESPACE: NS }, readFile: () => '' });
    expect(config.leaderElection).toEqual({
      enabled: true,
      leaseName: 'vaultsync-leader',
      leaseDurationMs: 15_000,
      renewDeadlineMs: 10_000,
      retryPeriodMs: 2_000,
      shutdownDrainMs: 3_000,
    });
    expect(config.controllerNamespace).toBe(NS);
    expect(config.auth.tokenPath).toBe('/var/run/secrets/vaultsync/token');
  });

  it('grants exactly CONTROLLER_RULES: the ClusterRole, plus leases in a Role of the controller namespace', async () => {
    const objs = objects((await template({}, ['--skip-tests'])).stdout);
    const cluster = objs.find((o) => o.kind === 'ClusterRole' && o.metadata.name === RELEASE)?.rules ?? [];
    const role = objs.find((o) => o.kind === 'Role' && o.metadata.namespace === NS)?.rules ?? [];
    expect(role.find((r) => r.resourceNames)?.resourceNames).toEqual(['vaultsync-leader']);
    const merged = new Map<string, Set<string>>();
    for (const r of [...cluster, ...role]) {
      const k = `${r.apiGroups.join(',')}|${r.resources.join(',')}`;
      merged.set(k, new Set([...(merged.get(k) ?? []), ...r.verbs]));
    }
    const expected = new Map(
      CONTROLLER_RULES.map((r) => [`${r.apiGroups.join(',')}|${r.resources.join(',')}`, new Set(r.verbs)]),
    );
    expect(merged).toEqual(expected);
    expect(objs.some((o) => o.kind === 'ClusterRoleBinding')).toBe(true);
  });

  it('with config.namespaces, binds the ClusterRole only in those namespaces', async () => {
    const objs = objects((await template({ 'config.namespaces': ['team-x', 'team-y'] }, ['--skip-tests'])).stdout);
    expect(objs.some((o) => o.kind === 'ClusterRoleBinding')).toBe(false);
    const bindings = objs.filter((o) => o.kind === 'RoleBinding').map((o) => o.metadata.namespace);
    expect(bindings.sort()).toEqual(['team-x', 'team-y', NS]);
  });
});

describe('helm install, then the controller with the chart ServiceAccount', () => {
  let chartArgs: string[] = [];
  let kubeconfig = '';
  let controller: Proc | undefined;
  let metricsUrl = '';
  let webhookPort = 0;
  let webhookKeyFile = '';

  beforeAll(async () => {
    const r = await helm(
      'install',
      RELEASE,
      CHART,
      '--namespace',
      NS,
      ...setJson({ 'config.vaultAddress': env.vaultAddr, 'config.refreshMin': '1s', 'config.logLevel': 'debug' }),
    );
    if (r.code !== 0) throw new Error(`helm install failed: ${r.stderr}`);
    // The release created the CRD from its template (crds.enabled); Helm does not wait for it.
    await env.waitForCrd();
    const manifest = await helm('get', 'manifest', RELEASE, '--namespace', NS);
    // The pod's arguments, minus what only makes sense in the pod (its ports, its projected token).
    const podArgs = controllerArgs(objects(manifest.stdout));
    expect(podArgs).toContain('--webhook-listen=0.0.0.0:8443');
    chartArgs = podArgs.filter(
      (a) => !a.startsWith('--listen=') && !a.startsWith('--webhook-listen=') && !a.startsWith('--token-path='),
    );
    webhookPort = await freePort();
    webhookKeyFile = join(env.dir, 'chart-webhook.key');
    writeFileSync(webhookKeyFile, `${'c0ffee'.repeat(11)}\n`, { mode: 0o600 });
    // A TokenRequest token of the chart's ServiceAccount, as the pod would have it.
    const token = await env.tokenFor(NS, SA, [ISSUER], 3600);
    kubeconfig = join(env.dir, 'chart-sa.kubeconfig');
    writeFileSync(kubeconfig, env.kubeconfig({ token }), { mode: 0o600 });

    await env.createServiceAccount('team-c', 'myapp');
    await env.createServiceAccount('team-c', 'other');
    await env.policy('chart-read', 'path "secret/data/chart/*" { capabilities = ["read"] }');
    await env.role('chart-read', {
      serviceAccounts: ['myapp', 'other'],
      namespaces: ['team-c'],
      policies: ['chart-read'],
    });
    await env.writeKv('chart/config', { password: CANARY, user: 'app' });
  });

  it(
    'installs the chart: the release is deployed and its objects exist, the CRD from its template',
    track(async () => {
      const status = await helm('status', RELEASE, '--namespace', NS, '-o', 'json');
      expect((JSON.parse(status.stdout) as { info: { status: string } }).info.status).toBe('deployed');
      for (const [path, what] of [
        [`/api/v1/namespaces/${NS}/serviceaccounts/${SA}`, 'ServiceAccount'],
        [`/apis/apps/v1/namespaces/${NS}/deployments/${RELEASE}`, 'Deployment'],
        [`/api/v1/namespaces/${NS}/services/${RELEASE}`, 'Service'],
        [`/apis/policy/v1/namespaces/${NS}/poddisruptionbudgets/${RELEASE}`, 'PodDisruptionBudget'],
        [`/apis/rbac.authorization.k8s.io/v1/clusterroles/${RELEASE}`, 'ClusterRole'],
        [`/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/${RELEASE}`, 'ClusterRoleBinding'],
        [`/apis/rbac.authorization.k8s.io/v1/namespaces/${NS}/roles/${RELEASE}`, 'Role'],
      ] as const) {
        const r = await must<{ kind: string }>(env.kube, 'GET', path);
        expect(r.body.kind).toBe(what);
      }
      expect(chartArgs).toContain('--leader-elect=true');
      expect(chartArgs).toContain(`--vault-address=${env.vaultAddr}`);
    }),
  );

  it(
    'syncs the classic flow with only the RBAC the chart grants',
    track(async () => {
      const started = await env.startController(
        [
          ...chartArgs,
          `--controller-namespace=${NS}`,
          `--webhook-listen=127.0.0.1:${webhookPort}`,
          `--webhook-key-file=${webhookKeyFile}`,
        ],
        'chart-controller',
        { kubeconfig },
      );
      controller = started.proc;
      metricsUrl = started.url;
      await createSecretSync(
        env,
        secretSync('team-c', 'app', {
          vault: { kv: { path: 'chart/config' } },
          auth: { kubernetes: { role: 'chart-read', serviceAccountName: 'myapp' } },
          data: [{ secretKey: 'DB_PASS', property: 'password' }],
          target: { name: 'app-secret' },
        }),
      );
      const ss = await waitReady(env, 'team-c', 'app', 'True');
      expect(readyOf(ss)?.reason).toBe('Synced');
      expect(decode((await getSecret(env, 'team-c', 'app-secret'))?.data)).toEqual({ DB_PASS: CANARY });
      // The content-hash key was created in the controller namespace under the chart's RBAC.
      expect(await getSecret(env, NS, 'vaultsync-hash-key')).toBeDefined();
      const events = await eventsFor(env, 'team-c', 'app');
      expect(events.some((e) => e.type === 'Normal')).toBe(true);
    }),
  );

  it(
    "restarts a Deployment with the chart's RBAC (patch on apps workloads); without it the Secret still syncs and a Warning says why",
    track(async () => {
      const before = await createDeployment(env, 'team-c', 'web');
      await env.writeKv('chart/restart', { password: 'first' });
      await createSecretSync(
        env,
        secretSync('team-c', 'restarting', {
          vault: { kv: { path: 'chart/restart' } },
          auth: { kubernetes: { role: 'chart-read', serviceAccountName: 'myapp' } },
          target: { name: 'restarting-secret' },
          refresh: { policy: 'OnChange' },
          rolloutRestartTargets: [{ kind: 'Deployment', name: 'web' }],
        }),
      );
      await waitReady(env, 'team-c', 'restarting', 'True', 'Synced', 60_000);
      await env.writeKv('chart/restart', { password: 'second' });
      await annotateSecretSync(env, 'team-c', 'restarting', 'vaultsync.io/force-sync', '1');
      const after = await waitFor(
        'the Deployment restarted',
        async () => {
          const d = await getDeployment(env, 'team-c', 'web');
          return d.spec.template.metadata?.annotations?.['vaultsync.io/restartedAt'] === undefined ? undefined : d;
        },
        30_000,
      );
      expect(after.metadata.generation).toBe(before.metadata.generation + 1);

      // Take the apps rule away: the next change still reaches the Secret; the restart is reported.
      const path = `/apis/rbac.authorization.k8s.io/v1/clusterroles/${RELEASE}`;
      const role = (await must<K8sObject & { rules: NonNullable<K8sObject['rules']> }>(env.kube, 'GET', path)).body;
      const without = role.rules.filter((r) => !r.apiGroups.includes('apps'));
      expect(without.length).toBe(role.rules.length - 1);
      await must(env.kube, 'PUT', path, { ...role, rules: without });
      try {
        await env.writeKv('chart/restart', { password: 'third' });
        await annotateSecretSync(env, 'team-c', 'restarting', 'vaultsync.io/force-sync', '2');
        await waitSecret(env, 'team-c', 'restarting-secret', (s) => decode(s.data).password === 'third');
        await waitFor(
          'RolloutRestartFailed',
          async () => (await eventsFor(env, 'team-c', 'restarting')).some((e) => e.reason === 'RolloutRestartFailed'),
          60_000,
        );
        expect(readyOf(await getSecretSync(env, 'team-c', 'restarting'))?.status).toBe('True');
        expect((await getDeployment(env, 'team-c', 'web')).metadata.generation).toBe(after.metadata.generation);
      } finally {
        const current = (await must<K8sObject>(env.kube, 'GET', path)).body;
        await must(env.kube, 'PUT', path, { ...current, rules: role.rules });
      }
    }),
  );

  it(
    'without serviceaccounts/token create the sync fails (ServiceAccountTokenFailed), and recovers when it is back',
    track(async () => {
      const path = `/apis/rbac.authorization.k8s.io/v1/clusterroles/${RELEASE}`;
      const role = (await must<K8sObject & { rules: NonNullable<K8sObject['rules']> }>(env.kube, 'GET', path)).body;
      const without = role.rules.filter((r) => !r.resources.includes('serviceaccounts/token'));
      expect(without.length).toBe(role.rules.length - 1);
      await must(env.kube, 'PUT', path, { ...role, rules: without });
      try {
        // Another ServiceAccount, so no cached Vault token can stand in for the TokenRequest.
        await createSecretSync(
          env,
          secretSync('team-c', 'second', {
            vault: { kv: { path: 'chart/config' } },
            auth: { kubernetes: { role: 'chart-read', serviceAccountName: 'other' } },
            target: { name: 'second-secret' },
          }),
        );
        const ss = await waitReady(env, 'team-c', 'second', 'False', 'ServiceAccountTokenFailed');
        expect(readyOf(ss)?.message).toContain('may not request tokens for ServiceAccount team-c/other');
        expect(await getSecret(env, 'team-c', 'second-secret')).toBeUndefined();
      } finally {
        const current = (await must<K8sObject>(env.kube, 'GET', path)).body;
        await must(env.kube, 'PUT', path, { ...current, rules: role.rules });
      }
      await waitReady(env, 'team-c', 'second', 'True', 'Synced', 90_000);
      expect(decode((await getSecret(env, 'team-c', 'second-secret'))?.data)).toEqual({
        password: CANARY,
        user: 'app',
      });
    }),
  );

  it(
    "the chart's ports: metrics and probes on --listen without the webhook; the webhook alone on its port, naming no SecretSync",
    track(async () => {
      const webhook = { url: `http://127.0.0.1:${webhookPort}` };
      const metrics = { url: metricsUrl };
      expect((await call(webhook, 'POST', '/v1/refresh', '{}')).status).toBe(401); // there, and wants a signature
      expect((await call(metrics, 'POST', '/v1/refresh', '{}')).status).toBe(404);
      expect((await call(webhook, 'GET', '/metrics')).status).toBe(404);
      expect((await call(webhook, 'GET', '/healthz')).status).toBe(404);
      expect((await call(metrics, 'GET', '/readyz')).status).toBe(200);
      const text = (await call<string>(metrics, 'GET', '/metrics')).text;
      expect(text).toContain('vaultsync_secretsync_oldest_success_age_seconds');
      // metricsPerSecretsync is off in the chart: the synced SecretSyncs of team-c are not named.
      expect(text).not.toContain('team-c');
      expect(text).not.toContain('vaultsync_secretsync_last_success_timestamp_seconds');
      expect(text).not.toContain('vaultsync_secretsync_ready');
      // Which build runs, and the standard process and Node.js metrics under their usual names.
      const pkg = JSON.parse(await readFile(join(REPO, 'package.json'), 'utf8')) as { version: string };
      expect(text).toMatch(
        new RegExp(
          `^vaultsync_build_info\\{version="${pkg.version.replaceAll('.', '\\.')}",revision="([0-9a-f]{7,40}|unknown)",node_version="${process.version}"\\} 1$`,
          'm',
        ),
      );
      expect(text).toMatch(/^process_resident_memory_bytes \d+$/m);
      expect(text).toMatch(/^nodejs_heap_size_used_bytes \d+$/m);
      expect(text).not.toMatch(/^vaultsync_(process|nodejs)_/m);
    }),
  );

  it(
    'helm test hook: its command, run with the hook ServiceAccount and RBAC, checks the CRD, a ready replica and the Lease',
    track(async () => {
      // `helm test` would run this pod; the test API server has no kubelet, so the same command runs
      // here with a token of the hook's ServiceAccount instead of the in-cluster one.
      const hooks = objects((await helm('get', 'hooks', RELEASE, '--namespace', NS)).stdout) as (K8sObject & {
        metadata: { annotations?: Record<string, string> };
        spec?: { serviceAccountName?: string; containers?: { image: string; args: string[] }[] };
      })[];
      expect(hooks.every((h) => h.metadata.annotations?.['helm.sh/hook'] === 'test')).toBe(true);
      const pod = hooks.find((h) => h.kind === 'Pod');
      const container = pod?.spec?.containers?.[0];
      expect(container?.image).toBe('ghcr.io/vaultsync/vaultsync:0.1.0');
      const args = container?.args ?? [];
      expect(args).toEqual([
        'check',
        '--crd=secretsyncs.vaultsync.io',
        `--deployment=${NS}/${RELEASE}`,
        `--lease=${NS}/vaultsync-leader`,
        '--lease-duration=15s',
        '--timeout=2m',
      ]);
      const rbac = hooks.filter((h) => h.kind !== 'Pod');
      expect(rbac.map((h) => h.kind).sort()).toEqual(
        ['ClusterRole', 'ClusterRoleBinding', 'Role', 'Role', 'RoleBinding', 'RoleBinding', 'ServiceAccount'].sort(),
      );
      const applied = await kubectl(['apply', '-f', '-'], rbac.map((h) => JSON.stringify(h)).join('\n---\n'));
      expect(applied.code, applied.stderr).toBe(0);
      const hookKubeconfig = join(env.dir, 'chart-test-hook.kubeconfig');
      const token = await env.tokenFor(NS, pod?.spec?.serviceAccountName ?? '', [ISSUER], 600);
      writeFileSync(hookKubeconfig, env.kubeconfig({ token }), { mode: 0o600 });
      const checkCmd = (argv: string[]) =>
        run(process.execPath, [join(REPO, 'bin', 'vaultsync.js'), ...argv, `--kubeconfig=${hookKubeconfig}`]);

      // No kubelet ran a pod, so no replica is ready: the check fails and says which part.
      const quick = args.map((a) => (a.startsWith('--timeout=') ? '--timeout=1s' : a));
      const failing = await checkCmd(quick);
      expect(failing.code, failing.stdout + failing.stderr).toBe(1);
      expect(failing.stdout).toContain('ok: CRD secretsyncs.vaultsync.io: established');
      expect(failing.stderr).toContain(`FAIL: Deployment ${NS}/${RELEASE}: 0 of 2 replicas ready`);
      // The controller process of this suite leads through the Lease.
      expect(failing.stdout, failing.stderr).toMatch(
        new RegExp(`ok: Lease ${NS}/vaultsync-leader: held by .*, renewed \\d+s ago`),
      );

      // Standing in for the kubelet: one replica passed its readiness probe.
      const status = await kubectl([
        'patch',
        'deployment',
        RELEASE,
        '-n',
        NS,
        '--subresource=status',
        '--type=merge',
        '-p',
        JSON.stringify({ status: { replicas: 2, readyReplicas: 1 } }),
      ]);
      expect(status.code, status.stderr).toBe(0);
      const passing = await checkCmd(args);
      expect(passing.code, passing.stdout + passing.stderr).toBe(0);
      expect(passing.stdout).toContain(`ok: Deployment ${NS}/${RELEASE}: 1 of 2 replicas ready`);

      // The hook's rights are exactly these reads: the Secret next door is refused.
      const secret = await run(env.bins.kubectl, [
        '--kubeconfig',
        hookKubeconfig,
        'get',
        'secret',
        'vaultsync-hash-key',
        '-n',
        NS,
      ]);
      expect(secret.code).not.toBe(0);
      expect(secret.stderr).toContain('forbidden');
    }),
  );

  it(
    'namespace users: edit creates and deletes SecretSyncs, view reads them but cannot write, neither touches status',
    track(async () => {
      const ns = 'team-r';
      await env.createNamespace(ns);
      await aggregateClusterRoles(env);
      for (const [user, role] of [
        ['alice', 'edit'],
        ['bob', 'view'],
      ] as const) {
        const rb = await kubectl([
          'create',
          'rolebinding',
          `${user}-${role}`,
          `--clusterrole=${role}`,
          `--user=${user}`,
          '-n',
          ns,
        ]);
        expect(rb.code, rb.stderr).toBe(0);
      }
      const as = (user: string, args: string[], input?: string) => kubectl([`--as=${user}`, '-n', ns, ...args], input);
      const manifest = JSON.stringify(
        secretSync(ns, 'by-alice', {
          vault: { kv: { path: 'chart/config' } },
          auth: { kubernetes: { role: 'chart-read', serviceAccountName: 'myapp' } },
          target: { name: 'by-alice' },
        }),
      );
      const created = await as('alice', ['create', '-f', '-'], manifest);
      expect(created.code, created.stderr).toBe(0);
      const read = await as('bob', ['get', 'secretsync', 'by-alice', '-o', 'jsonpath={.spec.target.name}']);
      expect(read.code, read.stderr).toBe(0);
      expect(read.stdout).toBe('by-alice');
      expect((await as('bob', ['get', 'secretsyncs'])).code).toBe(0);

      const patchSpec = [
        'patch',
        'secretsync',
        'by-alice',
        '--type=merge',
        '-p',
        '{"spec":{"refresh":{"interval":"1h"}}}',
      ];
      const refused = [
        await as('bob', ['create', '-f', '-'], manifest.replaceAll('by-alice', 'by-bob')),
        await as('bob', patchSpec),
        await as('bob', ['delete', 'secretsync', 'by-alice']),
        await as('alice', [
          'patch',
          'secretsync',
          'by-alice',
          '--subresource=status',
          '--type=merge',
          '-p',
          '{"status":{"secretName":"x"}}',
        ]),
      ];
      for (const r of refused) {
        expect(r.code).not.toBe(0);
        expect(r.stderr).toContain('forbidden');
      }
      const patched = await as('alice', patchSpec);
      expect(patched.code, patched.stderr).toBe(0);
      // A user with neither role sees nothing.
      expect((await as('mallory', ['get', 'secretsyncs'])).stderr).toContain('forbidden');
      const deleted = await as('alice', ['delete', 'secretsync', 'by-alice']);
      expect(deleted.code, deleted.stderr).toBe(0);
    }),
  );

  it(
    'examples/: every file is accepted by the real API server (server-side dry run, CRD rules included)',
    track(async () => {
      const dir = join(REPO, 'examples');
      const files = readdirSync(dir).filter((f) => f.endsWith('.yaml'));
      expect(files.length).toBeGreaterThan(4);
      for (const file of files) {
        const objs = objects(await readFile(join(dir, file), 'utf8'));
        // A dry run creates nothing, so the namespaces the examples use must exist already.
        for (const ns of new Set(objs.map((o) => o.metadata.namespace).filter((n) => n !== undefined))) {
          await env.createNamespace(ns);
        }
        const r = await kubectl(['apply', '--server-side', '--dry-run=server', '-f', join(dir, file)]);
        expect(r.code, `${file}: ${r.stderr}`).toBe(0);
        for (const o of objs)
          expect(r.stdout, file).toContain(`${o.metadata.name} serverside-applied (server dry run)`);
      }
    }),
  );

  it(
    'no canary value in the controller log',
    track(async () => {
      const log = await readFile(join(env.logDir, 'chart-controller-0.log'), 'utf8');
      expect(log.length).toBeGreaterThan(500);
      for (const needle of [CANARY, Buffer.from(CANARY).toString('base64')]) expect(log).not.toContain(needle);
    }),
  );

  it(
    'helm uninstall keeps the CRD (crds.keep), the SecretSyncs and the synced Secrets',
    track(async () => {
      await controller?.stop();
      const r = await helm('uninstall', RELEASE, '--namespace', NS);
      expect(r.code, r.stderr).toBe(0);
      const crd = await must<{ metadata: { annotations: Record<string, string> } }>(
        env.kube,
        'GET',
        '/apis/apiextensions.k8s.io/v1/customresourcedefinitions/secretsyncs.vaultsync.io',
      );
      expect(crd.body.metadata.annotations['helm.sh/resource-policy']).toBe('keep');
      await must(env.kube, 'GET', '/apis/vaultsync.io/v1alpha1/namespaces/team-c/secretsyncs/app');
      expect(await getSecret(env, 'team-c', 'app-secret')).toBeDefined();
      // The aggregated ClusterRoles are release objects: gone with it.
      expect(
        (await call(env.kube, 'GET', `/apis/rbac.authorization.k8s.io/v1/clusterroles/${RELEASE}-edit`)).status,
      ).toBe(404);
    }),
  );
});

describe('helm install limited to namespaces (config.namespaces)', () => {
  const SCOPED_NS = 'vaultsync-scoped';

  it(
    'syncs in a listed namespace with RoleBindings only, and keeps its hash key through the Role',
    track(async () => {
      await env.createNamespace(SCOPED_NS);
      await env.createServiceAccount('team-n', 'myapp'); // the watched namespace exists before the install
      const r = await helm(
        'install',
        'scoped',
        CHART,
        '--namespace',
        SCOPED_NS,
        // One release owns the CRD; a second installation of the chart leaves it alone.
        ...setJson({ 'config.vaultAddress': env.vaultAddr, 'config.namespaces': ['team-n'], 'crds.enabled': false }),
      );
      expect(r.code, r.stderr).toBe(0);
      const args = controllerArgs(objects((await helm('get', 'manifest', 'scoped', '-n', SCOPED_NS)).stdout)).filter(
        (a) => !a.startsWith('--listen=') && !a.startsWith('--webhook-listen=') && !a.startsWith('--token-path='),
      );
      expect(args).toContain('--namespaces=team-n');
      const kubeconfig = join(env.dir, 'scoped-sa.kubeconfig');
      const token = await env.tokenFor(SCOPED_NS, 'scoped-vaultsync', [ISSUER], 3600);
      writeFileSync(kubeconfig, env.kubeconfig({ token }), { mode: 0o600 });

      await env.role('scoped-read', { serviceAccounts: ['myapp'], namespaces: ['team-n'], policies: ['chart-read'] });
      await env.startController([...args, `--controller-namespace=${SCOPED_NS}`], 'scoped-controller', { kubeconfig });
      await createSecretSync(
        env,
        secretSync('team-n', 'app', {
          vault: { kv: { path: 'chart/config' } },
          auth: { kubernetes: { role: 'scoped-read', serviceAccountName: 'myapp' } },
          target: { name: 'app-secret' },
        }),
      );
      await waitReady(env, 'team-n', 'app', 'True');
      expect(decode((await getSecret(env, 'team-n', 'app-secret'))?.data)).toEqual({ password: CANARY, user: 'app' });
      // The hash key lives in the controller namespace, which is not watched: the chart's Role allows it.
      expect(await getSecret(env, SCOPED_NS, 'vaultsync-hash-key')).toBeDefined();
      const crb = await call(
        env.kube,
        'GET',
        '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/scoped-vaultsync',
      );
      expect(crb.status).toBe(404);
    }),
  );
});
