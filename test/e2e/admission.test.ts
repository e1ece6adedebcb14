/**
 * Invalid SecretSyncs on the real apiserver: what the CRD's OpenAPI schema and CEL rules can
 * express is refused at admission, with the apiserver's own message; what they cannot express is
 * admitted and reported by the controller in status with a reason that says what to fix, and
 * nothing is written.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CREATED_ONCE_EXPIRING_MESSAGE } from '../../src/api/schema.js';
import { call, must, waitFor } from '../env/http.js';
import { TestEnv } from '../env/testenv.js';
import { assertNoCanaries } from './canary.js';
import { tracked } from './bulk.js';
import {
  createSecret,
  createSecretSync,
  decode,
  eventsFor,
  getSecret,
  getSecretSync,
  readyOf,
  secretSync,
  waitReady,
} from './helpers.js';

const NS = 'adm';
const CANARY = 'adm-canary-value-3c9d0e1f';

let env: TestEnv;
let url = '';
let failed = true;
const track = tracked(() => {
  failed = true;
});

beforeAll(async () => {
  env = await TestEnv.start();
  await env.createServiceAccount(NS, 'app');
  await env.createServiceAccount('adm-other', 'app');
  await env.policy('adm-read', 'path "secret/data/adm/*" { capabilities = ["read"] }');
  await env.role('adm', { serviceAccounts: ['app'], namespaces: [NS], policies: ['adm-read'] });
  await env.role('adm-other-only', { serviceAccounts: ['app'], namespaces: ['adm-other'], policies: ['adm-read'] });
  await env.writeKv('adm/config', { password: CANARY, user: 'admin' });
  ({ url } = await env.startController([
    `--namespaces=${NS}`,
    '--token-audiences=vault,other-aud',
    // A closed port the operator allowed: a Vault that is down. Any other address is not allowed.
    '--vault-allowed-addresses=http://127.0.0.1:9',
  ]));
  failed = false;
}, 180_000);

afterAll(async () => {
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- undefined when beforeAll failed
  await env?.stop(failed);
});

type Spec = Record<string, unknown> & {
  vault: { kv: Record<string, unknown> } & Record<string, unknown>;
  auth: { kubernetes: Record<string, unknown> };
  target: Record<string, unknown>;
  refresh: Record<string, unknown>;
  data?: Record<string, unknown>[];
};

const validSpec = (): Spec => ({
  vault: { kv: { path: 'adm/config' } },
  auth: { kubernetes: { role: 'adm', serviceAccountName: 'app' } },
  data: [{ secretKey: 'PASSWORD', property: 'password' }],
  target: { name: 'adm-secret' },
  refresh: { interval: '1m' },
});

const path = (name = '') => `/apis/vaultsync.io/v1alpha1/namespaces/${NS}/secretsyncs${name ? `/${name}` : ''}`;

interface Rejected {
  name: string;
  edit: (s: Spec) => unknown;
  /** Fragments of the apiserver's message: the field path and what is wrong with it. */
  message: string[];
  query?: string;
}

const rejected: Rejected[] = [
  { name: 'no spec', edit: () => undefined, message: ['spec: Required value'] },
  {
    name: 'no spec.vault',
    edit: ({ vault: _v, data: _d, ...s }) => s,
    message: ['exactly one of spec.vault.kv and spec.sources must be set'],
  },
  {
    name: 'both spec.vault.kv and spec.sources',
    edit: ({ data: _d, ...s }) => ({ ...s, sources: [{ kv: { path: 'adm/a' } }] }),
    message: ['exactly one of spec.vault.kv and spec.sources must be set'],
  },
  {
    name: 'spec.data with spec.sources',
    edit: ({ vault: _v, ...s }) => ({ ...s, sources: [{ kv: { path: 'adm/a' } }] }),
    message: ['spec.data picks from spec.vault.kv; with spec.sources, put data in each source'],
  },
  {
    name: 'a source of no kind',
    edit: ({ vault: _v, data: _d, ...s }) => ({ ...s, sources: [{ data: [{ secretKey: 'K', property: 'k' }] }] }),
    message: ['spec.sources[0]', 'a source must have exactly one of kv'],
  },
  {
    name: 'refresh.policy CreatedOnce with a database source (its lease would expire)',
    edit: ({ vault: _v, data: _d, ...s }) => ({
      ...s,
      sources: [{ kv: { path: 'adm/a' } }, { database: { role: 'app' } }],
      refresh: { policy: 'CreatedOnce' },
    }),
    message: ['spec.refresh.policy', CREATED_ONCE_EXPIRING_MESSAGE],
  },
  {
    name: 'two sources of one name',
    edit: ({ vault: _v, data: _d, ...s }) => ({
      ...s,
      sources: [
        { name: 'db', kv: { path: 'adm/a' } },
        { name: 'db', kv: { path: 'adm/b' } },
      ],
    }),
    message: ['spec.sources', 'source names must be unique'],
  },
  {
    name: '17 sources',
    edit: ({ vault: _v, data: _d, ...s }) => ({
      ...s,
      sources: Array.from({ length: 17 }, (_, i) => ({ kv: { path: `adm/${i}` } })),
    }),
    message: ['spec.sources', 'must have at most 16 items'],
  },
  {
    name: 'a source secretKey twice',
    edit: ({ vault: _v, data: _d, ...s }) => ({
      ...s,
      sources: [
        {
          kv: { path: 'adm/a' },
          data: [
            { secretKey: 'K', property: 'a' },
            { secretKey: 'K', property: 'b' },
          ],
        },
      ],
    }),
    message: ['spec.sources[0].data[1]', 'Duplicate value'],
  },
  {
    name: 'an unknown decodingStrategy',
    edit: (s) => ({ ...s, data: [{ secretKey: 'K', property: 'k', decodingStrategy: 'Hex' }] }),
    message: ['spec.data[0].decodingStrategy', 'Unsupported value'],
  },
  { name: 'no spec.auth', edit: ({ auth: _a, ...s }) => s, message: ['spec.auth: Required value'] },
  { name: 'no kv.path', edit: (s) => ({ ...s, vault: { kv: {} } }), message: ['spec.vault.kv.path: Required value'] },
  {
    name: 'empty kv.path',
    edit: (s) => ({ ...s, vault: { kv: { path: '' } } }),
    message: ['spec.vault.kv.path', 'should be at least 1 chars long'],
  },
  {
    name: 'kv.path with a leading slash',
    edit: (s) => ({ ...s, vault: { kv: { path: '/adm/config' } } }),
    message: ['spec.vault.kv.path', 'should match'],
  },
  {
    name: 'kv.path with a .. segment',
    edit: (s) => ({ ...s, vault: { kv: { path: 'adm/../other' } } }),
    message: ['spec.vault.kv.path', 'path must not contain empty, . or .. segments'],
  },
  {
    name: 'kv.path with an empty segment',
    edit: (s) => ({ ...s, vault: { kv: { path: 'adm//config' } } }),
    message: ['spec.vault.kv.path', 'path must not contain empty, . or .. segments'],
  },
  {
    name: 'kv.mount with a trailing slash',
    edit: (s) => ({ ...s, vault: { kv: { mount: 'secret/', path: 'adm/config' } } }),
    message: ['spec.vault.kv.mount', 'should match'],
  },
  {
    name: 'kv.version 0',
    edit: (s) => ({ ...s, vault: { kv: { path: 'adm/config', version: 0 } } }),
    message: ['spec.vault.kv.version', 'should be greater than or equal to 1'],
  },
  {
    name: 'kv.version not an integer',
    edit: (s) => ({ ...s, vault: { kv: { path: 'adm/config', version: 'latest' } } }),
    message: ['spec.vault.kv.version', 'must be of type integer'],
  },
  {
    name: 'address not http(s)',
    edit: (s) => ({ ...s, vault: { ...s.vault, address: 'ftp://vault.example:8200' } }),
    message: ['spec.vault.address', 'address must be an http:// or https:// URL'],
  },
  {
    name: 'address not a URL',
    edit: (s) => ({ ...s, vault: { ...s.vault, address: 'vault example' } }),
    message: ['spec.vault.address', 'address must be an http:// or https:// URL'],
  },
  {
    name: 'address with a path',
    edit: (s) => ({ ...s, vault: { ...s.vault, address: 'https://vault.example:8200/v1/sys/raw' } }),
    message: ['spec.vault.address', 'should match'],
  },
  {
    name: 'address with a query',
    edit: (s) => ({ ...s, vault: { ...s.vault, address: 'https://vault.example:8200?redirect=x' } }),
    message: ['spec.vault.address', 'should match'],
  },
  {
    name: 'address with a fragment',
    edit: (s) => ({ ...s, vault: { ...s.vault, address: 'https://vault.example:8200#x' } }),
    message: ['spec.vault.address', 'should match'],
  },
  {
    name: 'address with user info',
    edit: (s) => ({ ...s, vault: { ...s.vault, address: 'https://user:pass@vault.example:8200' } }),
    message: ['spec.vault.address', 'should match'],
  },
  {
    name: 'caBundle not PEM',
    edit: (s) => ({ ...s, vault: { ...s.vault, caBundle: 'not a certificate' } }),
    message: ['spec.vault.caBundle', 'caBundle must be PEM certificates'],
  },
  {
    name: 'Vault namespace with a leading slash',
    edit: (s) => ({ ...s, vault: { ...s.vault, namespace: '/team' } }),
    message: ['spec.vault.namespace', 'should match'],
  },
  {
    name: 'no auth.kubernetes',
    edit: (s) => ({ ...s, auth: {} }),
    message: ['spec.auth.kubernetes: Required value'],
  },
  {
    name: 'no role',
    edit: (s) => ({ ...s, auth: { kubernetes: { serviceAccountName: 'app' } } }),
    message: ['spec.auth.kubernetes.role: Required value'],
  },
  {
    name: 'role with a slash',
    edit: (s) => ({ ...s, auth: { kubernetes: { role: 'a/b', serviceAccountName: 'app' } } }),
    message: ['spec.auth.kubernetes.role', 'should match'],
  },
  {
    name: 'auth mount empty',
    edit: (s) => ({ ...s, auth: { kubernetes: { ...s.auth.kubernetes, mount: '' } } }),
    message: ['spec.auth.kubernetes.mount', 'should be at least 1 chars long'],
  },
  {
    name: 'serviceAccountName not a DNS name',
    edit: (s) => ({ ...s, auth: { kubernetes: { role: 'adm', serviceAccountName: 'My_App' } } }),
    message: ['spec.auth.kubernetes.serviceAccountName', 'should match'],
  },
  {
    name: 'no audiences',
    edit: (s) => ({ ...s, auth: { kubernetes: { ...s.auth.kubernetes, audiences: [] } } }),
    message: ['spec.auth.kubernetes.audiences', 'should have at least 1 items'],
  },
  {
    name: 'nine audiences',
    edit: (s) => ({
      ...s,
      auth: { kubernetes: { ...s.auth.kubernetes, audiences: Array.from({ length: 9 }, (_, i) => `aud-${i}`) } },
    }),
    message: ['spec.auth.kubernetes.audiences', 'must have at most 8 items'],
  },
  { name: 'empty data', edit: (s) => ({ ...s, data: [] }), message: ['spec.data', 'should have at least 1 items'] },
  {
    name: '257 data items',
    edit: (s) => ({
      ...s,
      data: Array.from({ length: 257 }, (_, i) => ({ secretKey: `K${i}`, property: 'password' })),
    }),
    message: ['spec.data', 'must have at most 256 items'],
  },
  {
    name: 'secretKey with a space',
    edit: (s) => ({ ...s, data: [{ secretKey: 'DB PASS', property: 'password' }] }),
    message: ['spec.data[0].secretKey', 'should match'],
  },
  {
    name: 'secretKey longer than 253',
    edit: (s) => ({ ...s, data: [{ secretKey: 'K'.repeat(254), property: 'password' }] }),
    message: ['spec.data[0].secretKey', 'Too long: may not be more than 253 bytes'],
  },
  {
    name: 'the same secretKey twice',
    edit: (s) => ({
      ...s,
      data: [
        { secretKey: 'A', property: 'password' },
        { secretKey: 'A', property: 'user' },
      ],
    }),
    message: ['spec.data[1]', 'Duplicate value'],
  },
  {
    name: 'data item without property',
    edit: (s) => ({ ...s, data: [{ secretKey: 'A' }] }),
    message: ['spec.data[0].property: Required value'],
  },
  {
    name: 'target.name not a DNS name',
    edit: (s) => ({ ...s, target: { name: 'Adm_Secret' } }),
    message: ['spec.target.name', 'should match'],
  },
  {
    name: 'unknown deletionPolicy',
    edit: (s) => ({ ...s, target: { ...s.target, deletionPolicy: 'Orphan' } }),
    message: ['spec.target.deletionPolicy', 'Unsupported value: "Orphan"', '"Delete", "Retain"'],
  },
  {
    name: 'immutable not a boolean',
    edit: (s) => ({ ...s, target: { ...s.target, immutable: 'yes' } }),
    message: ['spec.target.immutable', 'must be of type boolean'],
  },
  {
    name: '65 labels',
    edit: (s) => ({
      ...s,
      target: { ...s.target, labels: Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`l${i}`, 'x'])) },
    }),
    message: ['spec.target.labels', 'must have at most 64 items'],
  },
  {
    name: 'a label value that is not a string',
    edit: (s) => ({ ...s, target: { ...s.target, labels: { team: 7 } } }),
    message: ['spec.target.labels.team', 'must be of type string'],
  },
  {
    name: 'refresh.interval not a duration',
    edit: (s) => ({ ...s, refresh: { interval: '5' } }),
    message: ['spec.refresh.interval', 'should match'],
  },
  {
    name: 'refresh.interval under 1s',
    edit: (s) => ({ ...s, refresh: { interval: '500ms' } }),
    message: ['spec.refresh.interval', 'refresh.interval must be at least 1s'],
  },
  {
    name: 'refresh.interval over a year',
    edit: (s) => ({ ...s, refresh: { interval: '9000h' } }),
    message: ['spec.refresh.interval', 'refresh.interval must be at most 8760h'],
  },
  {
    name: 'an unknown field, with strict field validation',
    edit: (s) => ({ ...s, vault: { kv: { path: 'adm/config', paht: 'typo' } } }),
    message: ['unknown field "spec.vault.kv.paht"'],
    query: '?fieldValidation=Strict',
  },
];

describe('admission: the CRD schema and CEL refuse what they can express', () => {
  it(
    'admits the valid spec the cases start from (server-side dry run)',
    track(async () => {
      const r = await call(env.kube, 'POST', `${path()}?dryRun=All`, secretSync(NS, 'valid', validSpec()));
      expect(r.status, r.text).toBe(201);
    }),
  );

  it(
    'admits the largest spec.sources (16 named sources, 256 picks each, templates) within the CEL cost budget',
    track(async () => {
      const { vault: _v, data: _d, ...rest } = validSpec();
      const sources = Array.from({ length: 16 }, (_, i) => ({
        name: `source_${i}_${'n'.repeat(50)}`,
        kv: { mount: 'secret', path: `adm/${i}` },
        data: Array.from({ length: 256 }, (_, j) => ({ secretKey: `S${i}_K${j}`, property: `p.${j}` })),
        allKeys: { prefix: 'P_', rewrite: Array.from({ length: 8 }, () => ({ regex: 'a', replacement: 'b' })) },
      }));
      const template = { data: Object.fromEntries(Array.from({ length: 64 }, (_, i) => [`T${i}`, '{{ S0_K0 }}'])) };
      const r = await call(
        env.kube,
        'POST',
        `${path()}?dryRun=All`,
        secretSync(NS, 'largest', { ...rest, sources, template }),
      );
      expect(r.status, r.text).toBe(201);
    }),
  );

  it('has at least 20 kinds of invalid SecretSync', () => {
    expect(rejected.length).toBeGreaterThanOrEqual(20);
  });

  it.each(rejected)('$name', async ({ name, edit, message, query }) => {
    try {
      const obj = {
        ...secretSync(NS, `bad-${rejected.findIndex((r) => r.name === name)}`, {}),
        spec: edit(validSpec()),
      };
      const r = await call<{ message?: string; reason?: string }>(env.kube, 'POST', `${path()}${query ?? ''}`, obj);
      expect([400, 422], r.text).toContain(r.status);
      for (const fragment of message) expect(r.body.message, r.text).toContain(fragment);
      expect(await getSecretSync(env, NS, obj.metadata.name)).toBeUndefined();
    } catch (err) {
      failed = true;
      throw err;
    }
  });

  it(
    'refuses an invalid update of an admitted SecretSync and keeps the old spec',
    track(async () => {
      await createSecretSync(env, secretSync(NS, 'upd', { ...validSpec(), target: { name: 'upd-secret' } }));
      await waitReady(env, NS, 'upd', 'True');
      const r = await call<{ message?: string }>(
        env.kube,
        'PATCH',
        path('upd'),
        { spec: { vault: { kv: { path: '../escape' } } } },
        { 'content-type': 'application/merge-patch+json' },
      );
      expect(r.status).toBe(422);
      expect(r.body.message).toContain('path must not contain empty, . or .. segments');
      const ss = await getSecretSync(env, NS, 'upd');
      expect((ss?.spec.vault as { kv: { path: string } }).kv.path).toBe('adm/config');
      expect(ss?.metadata.generation).toBe(1);
    }),
  );
});

interface Reported {
  name: string;
  spec: (s: Spec) => Spec;
  reason: string;
  /** What the message must say so that a user knows what to fix. */
  hint: string[];
  before?: () => Promise<void>;
}

const reported: Reported[] = [
  {
    name: 'no-sa',
    spec: (s) => ({ ...s, auth: { kubernetes: { role: 'adm' } } }),
    reason: 'InvalidSpec',
    hint: ['serviceAccountName is not set', `ServiceAccount in namespace ${NS}`],
  },
  {
    name: 'dotdot-key',
    spec: (s) => ({ ...s, data: [{ secretKey: '..', property: 'password' }] }),
    reason: 'InvalidSpec',
    hint: ['secretKey ".."', 'not a valid Secret key'],
  },
  {
    name: 'dot-key',
    spec: (s) => ({ ...s, data: [{ secretKey: '.', property: 'password' }] }),
    reason: 'InvalidSpec',
    hint: ['secretKey "."', 'not a valid Secret key'],
  },
  {
    name: 'missing-sa',
    spec: (s) => ({ ...s, auth: { kubernetes: { role: 'adm', serviceAccountName: 'ghost' } } }),
    reason: 'ServiceAccountTokenFailed',
    hint: [`${NS}/ghost`],
  },
  {
    name: 'role-of-other-ns',
    spec: (s) => ({ ...s, auth: { kubernetes: { role: 'adm-other-only', serviceAccountName: 'app' } } }),
    reason: 'VaultAuthFailed',
    hint: ['adm-other-only', 'bound to this ServiceAccount and namespace'],
  },
  {
    name: 'audience-not-allowed',
    spec: (s) => ({ ...s, auth: { kubernetes: { ...s.auth.kubernetes, audiences: ['not-allowed'] } } }),
    reason: 'InvalidSpec',
    hint: ['"not-allowed" is not one of them', '--token-audiences: vault, other-aud'],
  },
  {
    name: 'wrong-audience',
    // Allowed by the operator, but not what the Vault role expects.
    spec: (s) => ({ ...s, auth: { kubernetes: { ...s.auth.kubernetes, audiences: ['other-aud'] } } }),
    reason: 'VaultAuthFailed',
    hint: ['audience', 'token audiences: other-aud'],
  },
  {
    name: 'missing-property',
    spec: (s) => ({ ...s, data: [{ secretKey: 'X', property: 'no_such_property' }] }),
    reason: 'PropertyNotFound',
    hint: ['"no_such_property"', 'adm/config', 'fix spec.data'],
  },
  {
    name: 'missing-path',
    spec: (s) => ({ ...s, vault: { kv: { path: 'adm/nope' } } }),
    reason: 'VaultPathNotFound',
    hint: ['adm/nope', 'check the KV v2 mount and path'],
  },
  {
    name: 'missing-version',
    spec: (s) => ({ ...s, vault: { kv: { path: 'adm/config', version: 99 } } }),
    reason: 'VaultPathNotFound',
    hint: ['adm/config', 'version 99'],
  },
  {
    name: 'forbidden-path',
    spec: (s) => ({ ...s, vault: { kv: { path: 'elsewhere/config' } } }),
    reason: 'VaultForbidden',
    hint: ['elsewhere/config', "check the role's policy"],
  },
  {
    name: 'not-kv-mount',
    spec: (s) => ({ ...s, vault: { kv: { mount: 'cubbyhole', path: 'adm/config' } } }),
    reason: 'VaultPathNotFound',
    hint: ['cubbyhole/adm/config'],
  },
  {
    name: 'tls-without-keys',
    spec: (s) => ({ ...s, target: { name: 'tls-without-keys', type: 'kubernetes.io/tls' } }),
    reason: 'InvalidSpec',
    hint: ['kubernetes.io/tls needs the keys tls.crt, tls.key'],
  },
  {
    name: 'bad-label-key',
    spec: (s) => ({ ...s, target: { name: 'bad-label-key', labels: { 'not a label!': 'x' } } }),
    reason: 'KubernetesApiError',
    hint: ['metadata.labels', 'not a label!'],
  },
  {
    name: 'unreachable-vault',
    spec: (s) => ({ ...s, vault: { ...s.vault, address: 'http://127.0.0.1:9' } }),
    reason: 'VaultUnavailable',
    hint: ['http://127.0.0.1:9', 'ECONNREFUSED'],
  },
  {
    name: 'not-allowed-vault',
    spec: (s) => ({ ...s, vault: { ...s.vault, address: 'http://127.0.0.1:10' } }),
    reason: 'VaultAddressNotAllowed',
    hint: ['spec.vault.address is not an address this controller may use', '--vault-allowed-addresses'],
  },
  {
    name: 'taken-target',
    before: () => createSecret(env, NS, 'taken-target', { owner: 'someone-else' }),
    spec: (s) => ({ ...s, target: { name: 'taken-target' } }),
    reason: 'SecretConflict',
    hint: ['taken-target', 'not managed by this SecretSync', 'change spec.target.name'],
  },
  {
    name: 'same-target',
    // `upd` (above) already writes upd-secret.
    spec: (s) => ({ ...s, target: { name: 'upd-secret' } }),
    reason: 'SecretConflict',
    hint: ['upd-secret', `managed by SecretSync ${NS}/upd`],
  },
];

describe('what admission cannot see is reported in status, and nothing is written', () => {
  it.each(reported)('$name → Ready=False $reason', async ({ name, spec, reason, hint, before }) => {
    try {
      await before?.();
      const base = validSpec();
      const s = spec({ ...base, target: { name } });
      const targetBefore = await getSecret(env, NS, (s.target.name as string | undefined) ?? name);
      await createSecretSync(env, secretSync(NS, name, s));
      const ss = await waitReady(env, NS, name, 'False', reason, 30_000);
      const message = readyOf(ss)?.message ?? '';
      for (const h of hint) expect(message).toContain(h);
      const target = await getSecret(env, NS, (s.target.name as string | undefined) ?? name);
      // Nothing written: no Secret, or the one that was there exactly as it was.
      expect(target?.metadata.resourceVersion).toBe(targetBefore?.metadata.resourceVersion);
      const events = await eventsFor(env, NS, name);
      expect(events.some((e) => e.type === 'Warning' && e.reason === reason)).toBe(true);
    } catch (err) {
      failed = true;
      throw err;
    }
  });

  it(
    'CreatedOnce with a pki source admitted by an older CRD (without the rule) → Ready=False InvalidSpec, nothing written',
    track(async () => {
      const crdPath = '/apis/apiextensions.k8s.io/v1/customresourcedefinitions/secretsyncs.vaultsync.io';
      type Rule = { rule: string; message: string };
      type Crd = {
        spec: { versions: { schema: { openAPIV3Schema: { properties: Record<string, Record<string, unknown>> } } }[] };
      };
      const specRules = (crd: Crd) =>
        crd.spec.versions[0]!.schema.openAPIV3Schema.properties.spec!['x-kubernetes-validations'] as Rule[];
      const current = (await must<Crd>(env.kube, 'GET', crdPath)).body;
      const older = structuredClone(current);
      const kept = specRules(older).filter((r) => r.message !== CREATED_ONCE_EXPIRING_MESSAGE);
      expect(kept.length).toBe(specRules(current).length - 1);
      older.spec.versions[0]!.schema.openAPIV3Schema.properties.spec!['x-kubernetes-validations'] = kept;
      await must(env.kube, 'PUT', crdPath, older);
      const { data: _d, vault: _v, ...base } = validSpec();
      const obj = secretSync(NS, 'created-once-pki', {
        ...base,
        sources: [{ pki: { role: 'web', commonName: 'app.example' } }],
        target: { name: 'created-once-pki' },
        refresh: { policy: 'CreatedOnce' },
      });
      try {
        // The apiserver takes up a CRD change shortly after the write.
        await waitFor('the older CRD to admit the SecretSync', async () => {
          const r = await call(env.kube, 'POST', path(), obj);
          return r.status === 201;
        });
      } finally {
        const now = (await must<Crd & { metadata: unknown }>(env.kube, 'GET', crdPath)).body;
        await must(env.kube, 'PUT', crdPath, { ...current, metadata: now.metadata });
      }
      const ss = await waitReady(env, NS, 'created-once-pki', 'False', 'InvalidSpec', 30_000);
      const message = readyOf(ss)?.message ?? '';
      expect(message).toContain('spec.refresh.policy');
      expect(message).toContain(CREATED_ONCE_EXPIRING_MESSAGE);
      expect(message).toContain('spec.sources[0].pki');
      expect(await getSecret(env, NS, 'created-once-pki')).toBeUndefined();
      const events = await eventsFor(env, NS, 'created-once-pki');
      expect(events.some((e) => e.type === 'Warning' && e.reason === 'InvalidSpec')).toBe(true);
    }),
  );

  it(
    'a fixed spec syncs at once, with no restart',
    track(async () => {
      await must(
        env.kube,
        'PATCH',
        path('missing-property'),
        { spec: { data: [{ secretKey: 'X', property: 'user' }] } },
        [],
        {
          'content-type': 'application/merge-patch+json',
        },
      );
      await waitReady(env, NS, 'missing-property', 'True', 'Synced', 15_000);
      expect(decode((await getSecret(env, NS, 'missing-property'))?.data)).toEqual({ X: 'admin' });
    }),
  );

  it(
    'no canary in logs, events, status or metrics',
    track(async () => {
      await assertNoCanaries(env, { canaries: [CANARY], metricsUrls: [url] });
    }),
  );
});
