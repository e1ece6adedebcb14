/**
 * `vaultsync convert` end to end: ESO's own Vault e2e cases (test/fixtures/eso/e2e/vault-cases.yaml)
 * are applied as ExternalSecrets and SecretStores to the real kube-apiserver, converted by the built
 * CLI from the cluster and from files, the SecretSyncs applied, and the Secrets the controller writes
 * from OpenBao compared with the Secrets ESO's tests expect (written from ESO's semantics, not from
 * our output).
 */
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments, stringify } from 'yaml';
import { caseManifests, e2eCases, type E2eCase } from '../../src/convert/testing/fixtures.js';
import { call, must, waitFor } from '../env/http.js';
import { REPO, TestEnv } from '../env/testenv.js';
import { decode, getSecret, waitSecret, type SecretObject } from './helpers.js';

const run = promisify(execFile);
const ESO = 'external-secrets.io';
const { cases } = e2eCases();

/** Cases the converter must refuse, and keys where a reported drop makes our Secret differ from ESO's. */
const NOT_CONVERTED = ['JSONWithoutProperty', 'FindByName'];
const DIFFERS_BY_DROP: Record<string, string[]> = { DecodingPolicySync: ['name', 'surname'] };

let env: TestEnv;
let failed = true;
let fromCluster: { code: number; stdout: string; stderr: string };
let manifestsYaml = '';

/** The ESO CRDs, reduced to what the apiserver needs to store and serve them (v1 and v1beta1). */
function esoCrd(kind: string, plural: string, scope: 'Namespaced' | 'Cluster') {
  const schema = { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } };
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${plural}.${ESO}` },
    spec: {
      group: ESO,
      scope,
      names: { kind, plural, singular: kind.toLowerCase(), listKind: `${kind}List` },
      versions: [
        { name: 'v1', served: true, storage: true, schema },
        { name: 'v1beta1', served: true, storage: false, schema },
      ],
    },
  };
}

async function convert(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [join(REPO, 'bin', 'vaultsync.js'), 'convert', ...args], {
      env: { PATH: process.env.PATH ?? '', HOME: env.dir },
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

const docsOf = (yaml: string) => parseAllDocuments(yaml).map((d) => d.toJS() as Record<string, unknown>);

beforeAll(async () => {
  env = await TestEnv.start();
  for (const [kind, plural, scope] of [
    ['ExternalSecret', 'externalsecrets', 'Namespaced'],
    ['SecretStore', 'secretstores', 'Namespaced'],
    ['ClusterSecretStore', 'clustersecretstores', 'Cluster'],
  ] as const) {
    await must(
      env.kube,
      'POST',
      '/apis/apiextensions.k8s.io/v1/customresourcedefinitions',
      esoCrd(kind, plural, scope),
    );
  }
  await waitFor(
    'ESO CRDs served',
    async () => (await call(env.kube, 'GET', `/apis/${ESO}/v1beta1/externalsecrets`)).status === 200,
  );
  await env.policy('eso-e2e', 'path "secret/data/*" { capabilities = ["read"] }');
  await env.role('eso-e2e', {
    serviceAccounts: ['default'],
    namespaces: cases.map((c) => c.namespace),
    policies: ['eso-e2e'],
  });
  // ESO requires a server: the test OpenBao's, which convert is told is the controller's (--vault-address).
  const withServer = (m: Record<string, unknown>) => {
    if (m.kind === 'ExternalSecret') return m;
    const copy = structuredClone(m) as { spec: { provider: { vault: Record<string, unknown> } } };
    copy.spec.provider.vault.server = env.vaultAddr;
    return copy;
  };
  manifestsYaml = cases.flatMap((c) => caseManifests(c).map((m) => stringify(withServer(m)))).join('---\n');
  for (const doc of docsOf(manifestsYaml)) {
    const meta = doc.metadata as { name: string; namespace?: string };
    const plural = `${String(doc.kind).toLowerCase()}s`;
    const where = meta.namespace === undefined ? '' : `/namespaces/${meta.namespace}`;
    if (meta.namespace !== undefined) await env.createServiceAccount(meta.namespace, 'default');
    await must(env.kube, 'POST', `/apis/${String(doc.apiVersion)}${where}/${plural}`, doc, [409]);
  }
  for (const c of cases) for (const [path, data] of Object.entries(c.vault)) await env.writeKv(path, data);
  await env.startController();
  fromCluster = await convert([
    '--from-cluster',
    `--kubeconfig=${env.adminKubeconfig}`,
    `--vault-address=${env.vaultAddr}`,
    '--allow-dropped',
  ]);
  failed = false;
});

afterAll(async () => {
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- undefined when beforeAll failed
  await env?.stop(failed);
});

describe('vaultsync convert on ESO e2e cases', () => {
  it('--from-cluster converts every case but the ones it must refuse, each named with why', () => {
    expect(fromCluster.code).toBe(0);
    const written = docsOf(fromCluster.stdout).map((d) => (d.metadata as { namespace: string }).namespace);
    const expected = cases.filter((c) => !NOT_CONVERTED.includes(c.name)).map((c) => c.namespace);
    expect(written.sort()).toEqual(expected.sort());
    expect(fromCluster.stderr).toMatch(
      /ExternalSecret e2e-json-whole\/e2e-es \(cluster externalsecrets\[\d+\]\): not converted/,
    );
    expect(fromCluster.stderr).toMatch(/ExternalSecret e2e-find\/e2e-es .*: not converted/);
    expect(fromCluster.stderr).toContain('dropped spec.dataFrom[0].find: find lists Vault paths');
    expect(fromCluster.stderr).toContain(
      `${cases.length} ExternalSecret(s): ${expected.length} converted, 2 not converted`,
    );
  });

  it('converting the same manifests from files gives the same SecretSyncs; without --allow-dropped, none', async () => {
    const file = join(env.dir, 'eso.yaml');
    writeFileSync(file, manifestsYaml);
    const fromFiles = await convert(['-f', file, `--vault-address=${env.vaultAddr}`, '--allow-dropped']);
    expect(fromFiles.code).toBe(0);
    const key = (d: Record<string, unknown>) => JSON.stringify(d.metadata);
    const sorted = (docs: Record<string, unknown>[]) => docs.sort((a, b) => key(a).localeCompare(key(b)));
    expect(sorted(docsOf(fromFiles.stdout))).toEqual(sorted(docsOf(fromCluster.stdout)));
    const strict = await convert(['-f', file, `--vault-address=${env.vaultAddr}`]);
    expect(strict.code).toBe(1);
    expect(strict.stdout).toBe('');
  });

  it("the converted SecretSyncs write the Secrets ESO's tests expect", async () => {
    const mismatches: string[] = [];
    const refused = new Set<string>();
    for (const doc of docsOf(fromCluster.stdout)) {
      const ns = (doc.metadata as { namespace: string }).namespace;
      const res = await call(env.kube, 'POST', `/apis/vaultsync.io/v1alpha1/namespaces/${ns}/secretsyncs`, doc);
      if (res.status !== 201) {
        refused.add(ns);
        mismatches.push(`${ns}: the API server refused the SecretSync (${res.status}): ${res.text.slice(0, 300)}`);
      }
    }
    const applied = cases.filter((x) => !NOT_CONVERTED.includes(x.name));
    for (const c of applied.filter((x) => !refused.has(x.namespace))) {
      const name = c.expected.name ?? 'target-secret';
      let secret: SecretObject | undefined;
      try {
        secret = await waitSecret(env, c.namespace, name, () => true, 30_000);
      } catch {
        mismatches.push(`${c.name}: no Secret ${c.namespace}/${name}`);
        continue;
      }
      mismatches.push(...compare(c, secret));
    }
    expect(mismatches).toEqual([]);
  });

  it('refused cases write nothing', async () => {
    for (const c of cases.filter((x) => NOT_CONVERTED.includes(x.name))) {
      expect(await getSecret(env, c.namespace, 'target-secret')).toBeUndefined();
    }
  });
});

/** Differences between our Secret and ESO's expected one, except keys a reported drop explains. */
function compare(c: E2eCase, secret: SecretObject): string[] {
  const out: string[] = [];
  const got = decode(secret.data);
  const skip = new Set(DIFFERS_BY_DROP[c.name] ?? []);
  const want = Object.fromEntries(Object.entries(c.expected.data).filter(([k]) => !skip.has(k)));
  const have = Object.fromEntries(Object.entries(got).filter(([k]) => !skip.has(k)));
  if (JSON.stringify(sortKeys(have)) !== JSON.stringify(sortKeys(want))) {
    out.push(`${c.name}: data ${JSON.stringify(sortKeys(have))}, ESO expects ${JSON.stringify(sortKeys(want))}`);
  }
  for (const k of skip) if (got[k] === c.expected.data[k]) out.push(`${c.name}: ${k} equals ESO's although dropped`);
  if (secret.type !== c.expected.type) out.push(`${c.name}: type ${secret.type}, ESO expects ${c.expected.type}`);
  for (const [k, v] of Object.entries(c.expected.labels ?? {})) {
    if (secret.metadata.labels?.[k] !== v) out.push(`${c.name}: label ${k} missing`);
  }
  for (const [k, v] of Object.entries(c.expected.annotations ?? {})) {
    if (secret.metadata.annotations?.[k] !== v) out.push(`${c.name}: annotation ${k} missing`);
  }
  return out;
}

function sortKeys(o: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(o).sort(([a], [b]) => a.localeCompare(b)));
}
