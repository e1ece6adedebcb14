/**
 * Upgrading with the chart on the real kube-apiserver: the CRD is a template (crds.enabled), so
 * `helm upgrade` upgrades it. A CRD left by the 0.1.0 chart's crds/ folder (no Helm metadata, as
 * TestEnv creates it) is taken over after the label and annotations docs/upgrading.md gives; a
 * release N with synced SecretSyncs is upgraded to a chart N+1 whose CRD has a new field; the field
 * is accepted and kept, the running controller (which does not know the field: old controller, new
 * CRD) keeps every SecretSync Ready and writes no Secret; `helm uninstall` keeps the CRD, the
 * SecretSyncs and the Secrets; with crds.keep=false it deletes the CRD.
 *
 * As in chart.test.ts, there is no kubelet: the controller process stands in for the pod, with the
 * chart's arguments and a token of the chart's ServiceAccount.
 */
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildCrd } from '../../src/gen/crd.js';
import { CHART_CRD_PATH, renderChartCrdTemplate } from '../../src/gen/chart-crd.js';
import { call, must, waitFor } from '../env/http.js';
import type { Proc } from '../env/process.js';
import { ISSUER, TestEnv } from '../env/testenv.js';
import { CHART, controllerArgs, localArgs, objects, setJson, tools, type Tools } from './helm.js';
import { getSecret, getSecretSync, secretSync, createSecretSync, waitReady, type SecretObject } from './helpers.js';

const NS = 'vaultsync-upgrade';
const RELEASE = 'vaultsync';
const TEAM = 'team-u';
const CRD_PATH = '/apis/apiextensions.k8s.io/v1/customresourcedefinitions/secretsyncs.vaultsync.io';
const COUNT = 5;
/** The field chart N+1 adds to the CRD; the controller of this checkout does not know it. */
const NEW_FIELD = 'upgradeNote';
/** And the one chart N+2 adds. */
const NEWER_FIELD = 'upgradeNote2';

let env: TestEnv;
let t: Tools;
let failed = false;
let controller: Proc | undefined;
let chartNext = '';

interface Crd {
  metadata: {
    resourceVersion: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  spec: {
    versions: { schema: { openAPIV3Schema: { properties: { spec: { properties: Record<string, unknown> } } } } }[];
  };
}

const crd = async () => (await must<Crd>(env.kube, 'GET', CRD_PATH)).body;
const ssPath = (name = '') => `/apis/vaultsync.io/v1alpha1/namespaces/${TEAM}/secretsyncs${name ? `/${name}` : ''}`;
const values = () => ({ 'config.vaultAddress': env.vaultAddr, 'config.refreshMin': '1s' });

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

/** Every managed Secret's identity and version: unchanged means untouched. */
async function secretVersions(): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (let i = 0; i < COUNT; i++) {
    const s: SecretObject | undefined = await getSecret(env, TEAM, `app-${i}`);
    out[`app-${i}`] = s ? `${s.metadata.uid}@${s.metadata.resourceVersion}` : 'missing';
  }
  return out;
}

/** A later chart: this chart with another version, its CRD with more optional spec fields. */
function buildChart(version: string, fields: string[]): string {
  const dir = join(env.dir, `chart-${version}`);
  cpSync(CHART, dir, { recursive: true });
  const next = buildCrd();
  for (const field of fields) {
    next.spec.versions[0]!.schema.openAPIV3Schema.properties!.spec!.properties![field] = {
      type: 'string',
      description: `A field that only chart ${version} and later know.`,
      maxLength: 64,
    };
  }
  writeFileSync(join(dir, CHART_CRD_PATH.replace('charts/vaultsync/', '')), renderChartCrdTemplate(next));
  const chartYaml = readFileSync(join(dir, 'Chart.yaml'), 'utf8');
  writeFileSync(join(dir, 'Chart.yaml'), chartYaml.replace(/^version: .*$/m, `version: ${version}`));
  return dir;
}

const specFields = async () => (await crd()).spec.versions[0]!.schema.openAPIV3Schema.properties.spec.properties;

/** POST with the field validation kubectl uses by default: unknown fields are errors, not silently dropped. */
async function createStrict(name: string, extra: Record<string, unknown>) {
  return call<{ message?: string; spec?: Record<string, unknown> }>(
    env.kube,
    'POST',
    `${ssPath()}?fieldValidation=Strict`,
    secretSync(TEAM, name, {
      vault: { kv: { path: 'upgrade/config' } },
      auth: { kubernetes: { role: 'upgrade-read', serviceAccountName: 'myapp' } },
      target: { name },
      ...extra,
    }),
  );
}

beforeAll(async () => {
  // The CRD as the 0.1.0 chart left it: created from a crds/ folder, without Helm's metadata.
  env = await TestEnv.start();
  t = tools(env);
  await env.createNamespace(NS);
  await env.createServiceAccount(TEAM, 'myapp');
  await env.policy('upgrade-read', 'path "secret/data/upgrade/*" { capabilities = ["read"] }');
  await env.role('upgrade-read', { serviceAccounts: ['myapp'], namespaces: [TEAM], policies: ['upgrade-read'] });
  await env.writeKv('upgrade/config', { password: 'upgrade-value', user: 'app' });
});

afterAll(async () => {
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- undefined when beforeAll failed
  await env?.stop(failed);
});

describe('helm upgrade with a changed CRD', () => {
  it(
    "takes over a CRD from the old chart's crds/ folder only once it carries Helm's label and annotations",
    track(async () => {
      const before = await crd();
      const refused = await t.helm('install', RELEASE, CHART, '--namespace', NS, ...setJson(values()));
      expect(refused.code).not.toBe(0);
      expect(refused.stderr).toContain('invalid ownership metadata');
      expect((await crd()).metadata.resourceVersion).toBe(before.metadata.resourceVersion);
      await t.helm('uninstall', RELEASE, '--namespace', NS); // the failed release, if helm kept one

      // docs/upgrading.md, "From 0.1.0":
      for (const args of [
        ['label', 'crd', 'secretsyncs.vaultsync.io', 'app.kubernetes.io/managed-by=Helm', '--overwrite'],
        [
          'annotate',
          'crd',
          'secretsyncs.vaultsync.io',
          `meta.helm.sh/release-name=${RELEASE}`,
          `meta.helm.sh/release-namespace=${NS}`,
          '--overwrite',
        ],
      ]) {
        const r = await t.kubectl(args);
        expect(r.code, r.stderr).toBe(0);
      }
      const installed = await t.helm('install', RELEASE, CHART, '--namespace', NS, ...setJson(values()));
      expect(installed.code, installed.stderr).toBe(0);
      const adopted = await crd();
      expect(adopted.metadata.annotations?.['helm.sh/resource-policy']).toBe('keep');
      expect(adopted.metadata.labels?.['helm.sh/chart']).toBe('vaultsync-0.1.0');
    }),
  );

  it(
    'release N syncs SecretSyncs; the CRD refuses the field N+1 will add',
    track(async () => {
      const manifest = await t.helm('get', 'manifest', RELEASE, '--namespace', NS);
      const token = await env.tokenFor(NS, RELEASE, [ISSUER], 3600);
      const kubeconfig = join(env.dir, 'upgrade-sa.kubeconfig');
      writeFileSync(kubeconfig, env.kubeconfig({ token }), { mode: 0o600 });
      controller = (
        await env.startController(
          [...localArgs(controllerArgs(objects(manifest.stdout))), `--controller-namespace=${NS}`],
          'upgrade-controller',
          { kubeconfig },
        )
      ).proc;
      for (let i = 0; i < COUNT; i++) {
        await createSecretSync(
          env,
          secretSync(TEAM, `app-${i}`, {
            vault: { kv: { path: 'upgrade/config' } },
            auth: { kubernetes: { role: 'upgrade-read', serviceAccountName: 'myapp' } },
            target: { name: `app-${i}` },
            refresh: { interval: '2s' },
          }),
        );
      }
      for (let i = 0; i < COUNT; i++) await waitReady(env, TEAM, `app-${i}`, 'True', 'Synced');
      expect(Object.values(await secretVersions())).not.toContain('missing');

      const r = await createStrict('probe', { [NEW_FIELD]: 'hello' });
      expect(r.status).toBe(400);
      expect(r.body.message).toContain(`unknown field "spec.${NEW_FIELD}"`);
    }),
  );

  it(
    'helm upgrade to N+1: the CRD gains the field, it is accepted and kept; no SecretSync or Secret is touched',
    track(async () => {
      chartNext = buildChart('99.0.0-next', [NEW_FIELD]);
      const secretsBefore = await secretVersions();
      const syncsBefore = await Promise.all(
        Array.from({ length: COUNT }, async (_, i) => (await getSecretSync(env, TEAM, `app-${i}`))?.metadata.uid),
      );

      // Helm 4 applies server-side: the fields of a CRD another tool created (here the harness; for
      // 0.1.0 users helm's crds/ handling or kubectl apply) stay that tool's until Helm forces them,
      // once (docs/upgrading.md). Refused without the flag, and nothing changes.
      const plain = await t.helm('upgrade', RELEASE, chartNext, '--namespace', NS, '--reuse-values');
      expect(plain.code).not.toBe(0);
      expect(plain.stderr).toContain('conflict');
      expect(await specFields()).not.toHaveProperty(NEW_FIELD);
      const r = await t.helm('upgrade', RELEASE, chartNext, '--namespace', NS, '--reuse-values', '--force-conflicts');
      expect(r.code, r.stderr).toBe(0);
      const upgraded = await crd();
      expect(await specFields()).toHaveProperty(NEW_FIELD);
      expect(upgraded.metadata.labels?.['helm.sh/chart']).toBe('vaultsync-99.0.0-next');
      expect(upgraded.metadata.annotations?.['helm.sh/resource-policy']).toBe('keep');

      // The apiserver may take a moment to serve the new schema.
      let created: Awaited<ReturnType<typeof createStrict>> | undefined;
      await waitFor('the new field accepted', async () => {
        created = await createStrict('probe', { [NEW_FIELD]: 'hello' });
        return created.status === 201;
      });
      expect(created?.body.spec?.[NEW_FIELD]).toBe('hello');
      // An existing SecretSync takes the field too, and the controller, which does not know it, carries on.
      await must(env.kube, 'PATCH', ssPath('app-0'), { spec: { [NEW_FIELD]: 'set after the upgrade' } }, [], {
        'content-type': 'application/merge-patch+json',
      });
      expect((await getSecretSync(env, TEAM, 'app-0'))?.spec[NEW_FIELD]).toBe('set after the upgrade');

      // Several refresh intervals (2 s) with the controller running: still Ready, nothing rewritten.
      await new Promise((resolve) => setTimeout(resolve, 8_000));
      for (let i = 0; i < COUNT; i++) {
        const ss = await waitReady(env, TEAM, `app-${i}`, 'True', 'Synced');
        expect(ss.metadata.uid).toBe(syncsBefore[i]);
      }
      expect(await secretVersions()).toEqual(secretsBefore);
      expect(controller?.running).toBe(true);
    }),
  );

  it(
    'the next upgrade (N+2, another field) needs no flag: Helm owns the CRD now; still nothing rewritten',
    track(async () => {
      const secretsBefore = await secretVersions();
      const newer = buildChart('99.0.1-next', [NEW_FIELD, NEWER_FIELD]);
      const r = await t.helm('upgrade', RELEASE, newer, '--namespace', NS, '--reuse-values');
      expect(r.code, r.stderr).toBe(0);
      expect(Object.keys(await specFields())).toEqual(expect.arrayContaining([NEW_FIELD, NEWER_FIELD]));
      await waitFor(
        'the newer field accepted',
        async () => (await createStrict('probe-2', { [NEWER_FIELD]: 'x' })).status === 201,
      );
      await new Promise((resolve) => setTimeout(resolve, 5_000));
      for (let i = 0; i < COUNT; i++) await waitReady(env, TEAM, `app-${i}`, 'True', 'Synced');
      expect(await secretVersions()).toEqual(secretsBefore);
    }),
  );

  it(
    'helm rollback to N+1: the CRD loses the newer field, and stored objects are served without it',
    track(async () => {
      const history = JSON.parse((await t.helm('history', RELEASE, '--namespace', NS, '-o', 'json')).stdout) as {
        revision: number;
        chart: string;
        status: string;
      }[];
      const target = history.filter((h) => h.chart === 'vaultsync-99.0.0-next' && h.status !== 'failed').at(-1);
      expect(target).toBeDefined();
      const secretsBefore = await secretVersions();
      const r = await t.helm('rollback', RELEASE, String(target?.revision), '--namespace', NS);
      expect(r.code, r.stderr).toBe(0);
      expect(await specFields()).not.toHaveProperty(NEWER_FIELD);
      // docs/upgrading.md: fields the older schema lacks are dropped when the API server serves the object.
      await waitFor(
        'probe-2 served without the newer field',
        async () => !(NEWER_FIELD in ((await getSecretSync(env, TEAM, 'probe-2'))?.spec ?? {})),
      );
      expect((await getSecretSync(env, TEAM, 'app-0'))?.spec[NEW_FIELD]).toBe('set after the upgrade');
      expect(await secretVersions()).toEqual(secretsBefore);
    }),
  );

  it(
    'helm uninstall keeps the CRD with the new field, the SecretSyncs and their Secrets',
    track(async () => {
      await controller?.stop();
      const secretsBefore = await secretVersions();
      const r = await t.helm('uninstall', RELEASE, '--namespace', NS);
      expect(r.code, r.stderr).toBe(0);
      expect(await specFields()).toHaveProperty(NEW_FIELD);
      const list = await must<{ items: unknown[] }>(env.kube, 'GET', ssPath());
      expect(list.body.items).toHaveLength(COUNT + 2);
      expect(await secretVersions()).toEqual(secretsBefore);
      expect((await call(env.kube, 'GET', `/apis/apps/v1/namespaces/${NS}/deployments/${RELEASE}`)).status).toBe(404);
    }),
  );

  it(
    'with crds.keep=false, helm uninstall deletes the CRD and with it every SecretSync',
    track(async () => {
      // The kept CRD still names this release, so a new install of it takes the CRD back.
      const r = await t.helm(
        'install',
        RELEASE,
        chartNext,
        '--namespace',
        NS,
        ...setJson({ ...values(), 'crds.keep': false }),
      );
      expect(r.code, r.stderr).toBe(0);
      const manifest = await t.helm('get', 'manifest', RELEASE, '--namespace', NS);
      expect(manifest.stdout).not.toContain('helm.sh/resource-policy');
      const u = await t.helm('uninstall', RELEASE, '--namespace', NS);
      expect(u.code, u.stderr).toBe(0);
      await waitFor('CRD deleted', async () => (await call(env.kube, 'GET', CRD_PATH)).status === 404, 60_000);
      expect((await call(env.kube, 'GET', '/apis/vaultsync.io/v1alpha1/secretsyncs')).status).toBe(404);
    }),
  );
});
