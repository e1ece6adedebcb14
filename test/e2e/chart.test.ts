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
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { parseConfig, runOptions } from '../../src/config.js';
import { call, must } from '../env/http.js';
import { freePort, type Proc } from '../env/process.js';
import { CONTROLLER_RULES, ISSUER, REPO, TestEnv } from '../env/testenv.js';
import { camelFlag } from '../../scripts/chart.js';
import { createSecretSync, decode, eventsFor, getSecret, readyOf, secretSync, waitReady } from './helpers.js';

const CHART = join(REPO, 'charts', 'vaultsync');
const NS = 'vaultsync-chart';
const RELEASE = 'vaultsync';
const SA = 'vaultsync'; // the release name contains the chart name, so the full name is the release name
const CANARY = 'canary-chart-3e9d0b71';

let env: TestEnv;
let failed = false;
let helmEnv: NodeJS.ProcessEnv;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(cmd: string, args: string[], input?: string, extraEnv: NodeJS.ProcessEnv = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env: { ...helmEnv, ...extraEnv }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(input ?? '');
  });
}

const helm = (...args: string[]) => run(env.bins.helm, args);
const kubectl = (args: string[], input?: string) =>
  run(env.bins.kubectl, ['--kubeconfig', env.adminKubeconfig, ...args], input);

/** `--set-json` for each value: exact types, no helm string coercion. */
const setJson = (values: Record<string, unknown>) =>
  Object.entries(values).flatMap(([k, v]) => ['--set-json', `${k}=${JSON.stringify(v)}`]);

const BASE = { 'config.vaultAddress': 'https://vault.example:8200' };

async function template(values: Record<string, unknown>, extra: string[] = []): Promise<Run> {
  return helm('template', RELEASE, CHART, '--namespace', NS, ...setJson({ ...BASE, ...values }), ...extra);
}

interface K8sObject {
  kind: string;
  metadata: { name: string; namespace?: string };
  rules?: { apiGroups: string[]; resources: string[]; verbs: string[]; resourceNames?: string[] }[];
  spec?: { template?: { spec: { containers: { args: string[] }[] } } };
}

function objects(yamlText: string): K8sObject[] {
  return parseAllDocuments(yamlText)
    .map((d) => d.toJS() as K8sObject | null)
    .filter((o): o is K8sObject => o !== null);
}

function deploymentArgs(objs: K8sObject[]): string[] {
  const d = objs.find((o) => o.kind === 'Deployment');
  const args = d?.spec?.template?.spec.containers[0]?.args ?? [];
  expect(args[0]).toBe('run');
  return args.slice(1);
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
  env = await TestEnv.start();
  const helmHome = join(env.dir, 'helm');
  mkdirSync(helmHome);
  helmEnv = {
    PATH: process.env.PATH ?? '',
    HOME: helmHome,
    HELM_CACHE_HOME: join(helmHome, 'cache'),
    HELM_CONFIG_HOME: join(helmHome, 'config'),
    HELM_DATA_HOME: join(helmHome, 'data'),
    KUBECONFIG: env.adminKubeconfig,
  };
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
    expect(both.of('NetworkPolicy')?.ingress).toEqual([
      { ports: [{ port: 8443, protocol: 'TCP' }], from: [ingress] },
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
      { ports: [{ port: 8080, protocol: 'TCP' }], from: [ingress, monitoring] },
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
    });
    const t = await template(sample);
    expect(t.code, t.stderr).toBe(0);
    const args = deploymentArgs(objects(t.stdout));
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
    const args = deploymentArgs(objects(t.stdout));
    const config = parseConfig(args, { env: { POD_NAMESPACE: NS }, readFile: () => '' });
    expect(config.leaderElection).toEqual({
      enabled: true,
      leaseName: 'vaultsync-leader',
      leaseDurationMs: 15_000,
      renewDeadlineMs: 10_000,
      retryPeriodMs: 2_000,
    });
    expect(config.controllerNamespace).toBe(NS);
    expect(config.auth.tokenPath).toBe('/var/run/secrets/vaultsync/token');
  });

  it('grants exactly CONTROLLER_RULES: the ClusterRole, plus leases in a Role of the controller namespace', async () => {
    const objs = objects((await template({})).stdout);
    const cluster = objs.find((o) => o.kind === 'ClusterRole')?.rules ?? [];
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
    const objs = objects((await template({ 'config.namespaces': ['team-x', 'team-y'] })).stdout);
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
    const manifest = await helm('get', 'manifest', RELEASE, '--namespace', NS);
    // The pod's arguments, minus what only makes sense in the pod (its ports, its projected token).
    const podArgs = deploymentArgs(objects(manifest.stdout));
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
    'installs the chart: the release is deployed and its objects exist (the CRD was already there)',
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
    'helm uninstall keeps the CRD and the synced Secrets',
    track(async () => {
      await controller?.stop();
      const r = await helm('uninstall', RELEASE, '--namespace', NS);
      expect(r.code, r.stderr).toBe(0);
      await must(env.kube, 'GET', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions/secretsyncs.vaultsync.io');
      expect(await getSecret(env, 'team-c', 'app-secret')).toBeDefined();
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
        ...setJson({ 'config.vaultAddress': env.vaultAddr, 'config.namespaces': ['team-n'] }),
      );
      expect(r.code, r.stderr).toBe(0);
      const args = deploymentArgs(objects((await helm('get', 'manifest', 'scoped', '-n', SCOPED_NS)).stdout)).filter(
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
