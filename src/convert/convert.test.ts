/**
 * The converter on ESO's own manifests: its Vault end-to-end cases (transcribed into
 * test/fixtures/eso/e2e/vault-cases.yaml) and the Vault snippets and examples of its docs.
 * Every SecretSync written must pass the project's own validateSecretSync, so a schema change
 * that the converter does not follow fails here.
 */
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { SecretSyncSpecSchema, validateSecretSync } from '../api/index.js';
import { convertManifests, formatInterval, goDurationMs, kvRef, type ConvertedSecretSync } from './convert.js';
import { InputError, parseManifests, type Manifest } from './manifests.js';
import { caseManifests, e2eCases, fixture, storeFor } from './testing/fixtures.js';

function manifests(...objs: Record<string, unknown>[]): Manifest[] {
  const out = { manifests: [] as Manifest[], skipped: [] };
  return objs.flatMap((o, i) => parseManifests(JSON.stringify(o), `obj${i}`).manifests).concat(out.manifests);
}

/**
 * The SecretSync must be one the API server and the controller accept, and name no field the
 * schema lacks (the API server would prune it silently: a renamed field would lose data).
 */
function expectValid(ss: ConvertedSecretSync | undefined): void {
  expect(ss).toBeDefined();
  const result = validateSecretSync({ ...ss, metadata: { namespace: 'default', ...ss?.metadata, uid: 'u' } });
  expect(result.ok ? [] : result.errors).toEqual([]);
  expect(unknownFields(ss?.spec, SecretSyncSpecSchema, 'spec')).toEqual([]);
}

function unknownFields(value: unknown, schema: unknown, path: string): string[] {
  const s = schema as { properties?: Record<string, unknown>; items?: unknown; anyOf?: unknown[] };
  if (Array.isArray(value)) return value.flatMap((v, i) => unknownFields(v, s.items, `${path}[${i}]`));
  if (typeof value !== 'object' || value === null || s.properties === undefined) return [];
  return Object.entries(value).flatMap(([k, v]) =>
    s.properties?.[k] === undefined ? [`${path}.${k}`] : unknownFields(v, s.properties[k], `${path}.${k}`),
  );
}

const auth = { kubernetes: { mount: 'kubernetes', role: 'eso-e2e', serviceAccountName: 'default' } };
const { store, cases } = e2eCases();

/** The spec each ESO e2e case converts to, written from ESO's semantics for the case. */
const EXPECTED_SPEC: Record<string, unknown> = {
  JSONDataWithProperty: {
    vault: {},
    auth,
    sources: [
      { kv: { mount: 'secret', path: 'e2e-prop-one' }, data: [{ secretKey: 'e2e-prop-one', property: 'foo1' }] },
      { kv: { mount: 'secret', path: 'e2e-prop-two' }, data: [{ secretKey: 'e2e-prop-two', property: 'bar2' }] },
    ],
    target: { name: 'target-secret' },
    refresh: { interval: '5s' },
  },
  JSONDataWithoutTargetName: {
    vault: { kv: { mount: 'secret', path: 'e2e-notarget-one' } },
    auth,
    data: [{ secretKey: 'e2e-notarget-one', property: 'foo' }],
    target: {},
    refresh: { interval: '5s' },
  },
  JSONDataWithTemplate: {
    vault: {},
    auth,
    sources: [
      { kv: { mount: 'secret', path: 'e2e-template-one' }, data: [{ secretKey: 'one', property: 'foo1' }] },
      { kv: { mount: 'secret', path: 'e2e-template-other' }, data: [{ secretKey: 'two', property: 'bar2' }] },
    ],
    template: { data: { 'my-data': 'executed: {{ one }}|{{ two }}' } },
    target: { name: 'target-secret', labels: { example: 'label' }, annotations: { example: 'annotation' } },
    refresh: { interval: '5s' },
  },
  DataPropertyDockerconfigJSON: {
    vault: { kv: { mount: 'secret', path: 'e2e-docker-docker-config-example' } },
    auth,
    data: [{ secretKey: 'mysecret', property: 'dockerconfig' }],
    template: { data: { '.dockerconfigjson': '{{ mysecret }}' } },
    target: { name: 'target-secret', type: 'kubernetes.io/dockerconfigjson' },
    refresh: { interval: '5s' },
  },
  JSONDataFromSync: {
    vault: { kv: { mount: 'secret', path: 'e2e-datafrom-one' } },
    auth,
    target: { name: 'target-secret' },
    refresh: { interval: '5s' },
  },
  JSONDataFromSyncReferent: {
    vault: { kv: { mount: 'secret', path: 'e2e-referent-one' } },
    auth,
    target: { name: 'target-secret' },
    refresh: { interval: '5s' },
  },
  JSONDataFromRewrite: {
    vault: {},
    auth,
    sources: [
      {
        kv: { mount: 'secret', path: 'e2e-rewrite-one' },
        allKeys: { rewrite: [{ regex: '(.*)', replacement: 'my_$1' }] },
      },
    ],
    target: { name: 'target-secret' },
    refresh: { interval: '5s' },
  },
  DecodingPolicySync: {
    vault: {},
    auth,
    sources: [
      { kv: { mount: 'secret', path: 'e2e-decoding-one' }, allKeys: {} },
      {
        kv: { mount: 'secret', path: 'e2e-decoding-one' },
        data: [
          { secretKey: 'base64', property: 'name', decodingStrategy: 'Base64' },
          { secretKey: 'none', property: 'name' },
        ],
      },
    ],
    target: { name: 'target-secret' },
    refresh: { interval: '5s' },
  },
  JSONWithProperty: {
    vault: { kv: { mount: 'secret', path: 'e2e-json-prop-json' } },
    auth,
    data: [{ secretKey: 'e2e-json-prop-json', property: 'foo.nested' }],
    target: { name: 'target-secret' },
    refresh: { interval: '5s' },
  },
  DataFromJSONWithoutProperty: {
    vault: { kv: { mount: 'secret', path: 'e2e-json-from-json' } },
    auth,
    target: { name: 'target-secret' },
    refresh: { interval: '5s' },
  },
  DataFromJSONWithProperty: {
    vault: {},
    auth,
    sources: [{ kv: { mount: 'secret', path: 'e2e-json-from-prop-json' }, allKeys: { property: 'foo.nested' } }],
    target: { name: 'target-secret' },
    refresh: { interval: '5s' },
  },
};

/** What each case loses, by field. */
const EXPECTED_DROPS: Record<string, string[]> = {
  DecodingPolicySync: ['spec.dataFrom[0].extract.decodingStrategy'],
  JSONWithoutProperty: ['spec.data[0]'],
  FindByName: ['spec.dataFrom[0].find'],
};

describe("ESO's Vault end-to-end cases", () => {
  it('covers every case in the fixture', () => {
    expect(Object.keys(EXPECTED_SPEC).length + 2).toBe(cases.length);
  });

  for (const c of cases) {
    it(`${c.name} (${c.from})`, () => {
      const { conversions } = convertManifests(manifests(...caseManifests(c)));
      const [conv] = conversions;
      expect(conversions).toHaveLength(1);
      expect(conv?.dropped.map((d) => d.field)).toEqual(EXPECTED_DROPS[c.name] ?? []);
      if (c.converts === false || c.name === 'JSONWithoutProperty') {
        expect(conv?.secretSync).toBeUndefined();
        expect(conv?.error).toMatch(/nothing left to read/);
        return;
      }
      expectValid(conv?.secretSync);
      expect(conv?.secretSync?.metadata).toEqual({ name: 'e2e-es', namespace: c.namespace });
      expect(conv?.secretSync?.spec).toEqual(EXPECTED_SPEC[c.name]);
    });
  }
});

/** ESO's docs snippets name their store vault-backend in namespace example. */
const kubernetesStore = parseManifests(fixture('snippets/vault-kubernetes-store.yaml'), 'k').manifests;
const exampleEs = {
  apiVersion: 'external-secrets.io/v1',
  kind: 'ExternalSecret',
  metadata: { name: 'app', namespace: 'example' },
  spec: {
    secretStoreRef: { name: 'vault-backend', kind: 'SecretStore' },
    data: [{ secretKey: 'password', remoteRef: { key: 'app/config', property: 'password' } }],
  },
};

describe("ESO's Vault store snippets", () => {
  it('vault-kubernetes-store.yaml: Kubernetes auth with serviceAccountRef converts (its secretRef is unused, in ESO too)', () => {
    const { conversions } = convertManifests([...kubernetesStore, ...manifests(exampleEs)]);
    const [conv] = conversions;
    expectValid(conv?.secretSync);
    expect(conv?.secretSync?.spec).toEqual({
      vault: { address: 'https://vault.acme.org', kv: { mount: 'secret', path: 'app/config' } },
      auth: { kubernetes: { mount: 'kubernetes', role: 'demo', serviceAccountName: 'my-sa' } },
      data: [{ secretKey: 'password', property: 'password' }],
      target: {},
      refresh: { interval: '1h' },
    });
    expect(conv?.dropped).toEqual([]);
  });

  it('namespace, caBundle (base64 → PEM text), audiences; tls, headers, retrySettings dropped with why', () => {
    const pem = '-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n';
    const raw = structuredClone(kubernetesStore[0]!.raw) as unknown as {
      spec: { provider: { vault: Record<string, unknown> } & Record<string, unknown> } & Record<string, unknown>;
    };
    Object.assign(raw.spec.provider.vault, {
      server: 'https://vault.acme.org:8200/',
      namespace: 'team-a/',
      caBundle: Buffer.from(pem).toString('base64'),
      tls: { certSecretRef: { name: 'c' } },
      headers: { 'X-A': 'b' },
      auth: { kubernetes: { role: 'demo', serviceAccountRef: { name: 'my-sa', audiences: ['vault', 'other'] } } },
    });
    raw.spec.retrySettings = { maxRetries: 3 };
    const conv = convertManifests(manifests(raw, exampleEs)).conversions[0];
    expectValid(conv?.secretSync);
    expect(conv?.secretSync?.spec.vault).toEqual({
      address: 'https://vault.acme.org:8200',
      namespace: 'team-a',
      caBundle: pem,
      kv: { mount: 'secret', path: 'app/config' },
    });
    expect(conv?.secretSync?.spec.auth).toEqual({
      kubernetes: { role: 'demo', serviceAccountName: 'my-sa', audiences: ['vault', 'other'] },
    });
    expect(conv?.dropped.map((d) => d.field)).toEqual([
      'SecretStore vault-backend: spec.provider.vault.tls',
      'SecretStore vault-backend: spec.provider.vault.headers',
      'SecretStore vault-backend: spec.retrySettings',
    ]);
  });

  it("no serviceAccountRef (ESO's own ServiceAccount) and no store path: reported; the mount comes from the key", () => {
    const raw = structuredClone(kubernetesStore[0]!.raw) as unknown as {
      spec: { provider: { vault: Record<string, unknown> } };
    };
    raw.spec.provider.vault.auth = { kubernetes: { mountPath: 'k8s', role: 'demo' } };
    delete raw.spec.provider.vault.path;
    const es = {
      ...exampleEs,
      spec: { ...exampleEs.spec, data: [{ secretKey: 'p', remoteRef: { key: 'kv/data/app', property: 'p' } }] },
    };
    const conv = convertManifests(manifests(raw, es)).conversions[0];
    expectValid(conv?.secretSync);
    expect(conv?.secretSync?.spec.auth).toEqual({ kubernetes: { mount: 'k8s', role: 'demo' } });
    expect(conv?.secretSync?.spec.vault.kv).toEqual({ mount: 'kv', path: 'app' });
    expect(conv?.dropped).toEqual([
      {
        field: 'SecretStore vault-backend: spec.provider.vault.auth.kubernetes.serviceAccountRef',
        why: expect.stringMatching(/--allow-controller-identity/) as unknown,
      },
    ]);
  });

  it('--vault-address equal to the store server leaves spec.vault.address out', () => {
    const { conversions } = convertManifests([...kubernetesStore, ...manifests(exampleEs)], {
      controllerAddress: 'https://vault.acme.org/',
    });
    expect(conversions[0]?.secretSync?.spec.vault).toEqual({ kv: { mount: 'secret', path: 'app/config' } });
  });

  const refused: [string, RegExp][] = [
    ['vault-token-store.yaml', /logs in with a static Vault token \(auth.tokenSecretRef\)/],
    ['vault-approle-store.yaml', /logs in with AppRole/],
    ['vault-jwt-store.yaml', /logs in with JWT\/OIDC/],
    ['vault-ldap-store.yaml', /logs in with LDAP/],
    ['vault-userpass-store.yaml', /logs in with userpass/],
    ['vault-mtls-store.yaml', /not the Kubernetes auth method/],
  ];
  for (const [file, why] of refused) {
    it(`${file}: not converted, with the reason`, () => {
      const storeManifests = parseManifests(fixture(`snippets/${file}`), file).manifests;
      const { conversions } = convertManifests([...storeManifests, ...manifests(exampleEs)]);
      expect(conversions[0]?.secretSync).toBeUndefined();
      expect(conversions[0]?.error).toMatch(why);
    });
  }

  it('vault-iam-store.yaml (no namespace): AWS IAM is refused', () => {
    const storeManifests = parseManifests(fixture('snippets/vault-iam-store.yaml'), 'iam').manifests;
    const es = {
      ...exampleEs,
      metadata: { name: 'app' },
      spec: { ...exampleEs.spec, secretStoreRef: { name: 'vault-backend-aws-iam' } },
    };
    const { conversions } = convertManifests([...storeManifests, ...manifests(es)]);
    expect(conversions[0]?.error).toMatch(/logs in with AWS IAM/);
  });

  it('a KV v1 store, a non-Vault store and a missing store are refused', () => {
    const v1 = storeFor(e2eCases().store, 'example');
    const spec = structuredClone(v1.spec) as { provider: { vault: { version: string } } };
    spec.provider.vault.version = 'v1';
    const es = { ...exampleEs, spec: { ...exampleEs.spec, secretStoreRef: { name: 'kubernetes-provider' } } };
    expect(convertManifests(manifests({ ...v1, spec }, es)).conversions[0]?.error).toMatch(
      /reads KV v1; vaultsync reads KV v2 only/,
    );
    const aws = { ...v1, spec: { provider: { aws: { service: 'SecretsManager' } } } };
    expect(convertManifests(manifests(aws, es)).conversions[0]?.error).toMatch(
      /uses the aws provider; only vault converts/,
    );
    expect(convertManifests(manifests(es)).conversions[0]?.error).toMatch(
      /SecretStore kubernetes-provider \(namespace example\) is not in the input/,
    );
  });
});

describe("ESO's Vault ExternalSecret snippets (ClusterSecretStore vault-backend)", () => {
  const clusterStore = { ...kubernetesStore[0]!.raw, kind: 'ClusterSecretStore', metadata: { name: 'vault-backend' } };

  it('the Jenkins credentials: Helm-escaped templates stay literal text, labels and annotations carry over', () => {
    const es = parseManifests(
      fixture('snippets/vault-jenkins-credential-harbor-chart-robot-external-secret.yaml'),
      'h',
    ).manifests;
    const { conversions } = convertManifests([...manifests(clusterStore), ...es]);
    const ss = conversions[0]?.secretSync;
    expectValid(ss);
    expect(ss?.metadata).toEqual({ name: 'harbor-chart-robot', namespace: 'ci' });
    expect(ss?.spec.template).toEqual({
      data: {
        username: '{% raw %}{{ .username | toString }}{% endraw %}',
        password: '{% raw %}{{ .password | toString }}{% endraw %}',
      },
    });
    expect(ss?.spec.target).toEqual({
      name: 'harbor-chart-robot',
      labels: { 'jenkins.io/credentials-type': 'usernamePassword' },
      annotations: { 'jenkins.io/credentials-description': 'harbor chart robot' },
    });
    expect(ss?.spec.vault.kv).toEqual({ mount: 'secret', path: 'my-kv' });
    expect(ss?.spec.data).toEqual([
      { secretKey: 'username', property: 'harbor-chart-robot-username' },
      { secretKey: 'password', property: 'harbor-chart-robot-token' },
    ]);
  });

  for (const file of [
    'vault-anchore-engine-access-credentials-external-secret.yaml',
    'vault-jenkins-credential-github-ssh-access-external-secret.yaml',
    'vault-jenkins-credential-sonarqube-api-token-external-secret.yaml',
  ]) {
    it(`${file} converts to a valid SecretSync`, () => {
      const es = parseManifests(fixture(`snippets/${file}`), file).manifests;
      const { conversions } = convertManifests([...manifests(clusterStore), ...es]);
      expect(conversions[0]?.error).toBeUndefined();
      expectValid(conversions[0]?.secretSync);
    });
  }

  it("a ClusterSecretStore's serviceAccountRef in another namespace is dropped with why", () => {
    const raw = structuredClone(clusterStore) as unknown as {
      spec: { provider: { vault: { auth: { kubernetes: { serviceAccountRef: Record<string, unknown> } } } } };
    };
    raw.spec.provider.vault.auth.kubernetes.serviceAccountRef.namespace = 'eso';
    const es = parseManifests(
      fixture('snippets/vault-jenkins-credential-sonarqube-api-token-external-secret.yaml'),
      's',
    ).manifests;
    const conv = convertManifests([...manifests(raw), ...es]).conversions[0];
    expect(conv?.secretSync?.spec.auth.kubernetes.serviceAccountName).toBe('my-sa');
    expect(conv?.dropped.map((d) => d.field)).toContain(
      'ClusterSecretStore vault-backend: spec.provider.vault.auth.kubernetes.serviceAccountRef.namespace',
    );
  });
});

describe('ESO docs/provider/hashicorp-vault.md examples, with its store on Kubernetes auth', () => {
  const docs = parseManifests(fixture('provider-hashicorp-vault.yaml'), 'doc');
  const es = docs.manifests.filter((m) => m.kind === 'ExternalSecret');
  const store = { ...kubernetesStore[0]!.raw, metadata: { name: 'vault-backend' } };
  // The page elides secretStoreRef ("# ...") after its first example: it means the store above.
  const withStore = (m: Manifest): Manifest => {
    const spec = m.raw.spec as Record<string, unknown>;
    return {
      ...m,
      raw: { ...m.raw, spec: { secretStoreRef: { name: 'vault-backend', kind: 'SecretStore' }, ...spec } },
    };
  };
  const convert = (i: number) => convertManifests([...manifests(store), withStore(es[i]!)]).conversions[0];

  it('reads the page: 6 ExternalSecrets and a Secret that is skipped', () => {
    expect(es).toHaveLength(6);
    expect(docs.skipped.map((s) => s.what)).toEqual(['Secret vault-token']);
  });

  it('the page names all six vault-example: the first is converted, the others refused as duplicates', () => {
    const all = convertManifests([...manifests(store), ...es.map(withStore)]).conversions;
    expect(all.map((c) => c.error === undefined)).toEqual([true, false, false, false, false, false]);
    expect(all[1]?.error).toBe('the input has another ExternalSecret of this name (doc#3), converted instead');
  });

  it('the first example: foobar from foo/my-value; the metadataPolicy: Fetch entries are dropped', () => {
    const conv = convert(0);
    expectValid(conv?.secretSync);
    expect(conv?.secretSync?.spec).toMatchObject({
      vault: { kv: { mount: 'secret', path: 'foo' } },
      data: [{ secretKey: 'foobar', property: 'my-value' }],
      target: { name: 'example-sync' },
      refresh: { interval: '15s' },
    });
    expect(conv?.dropped.map((d) => d.field)).toEqual(['spec.data[1]', 'spec.data[2]']);
    expect(conv?.dropped[0]?.why).toMatch(/custom_metadata/);
  });

  it('raw values (no property) cannot be written; nested values become a nested property', () => {
    expect(convert(1)?.error).toMatch(/nothing left/);
    expect(convert(1)?.dropped[0]?.why).toMatch(/whole secret as one JSON value/);
    expect(convert(2)?.secretSync?.spec).toMatchObject({
      vault: { kv: { mount: 'secret', path: 'dev/config' } },
      data: [{ secretKey: 'foobar', property: 'foo.nested.bar' }],
    });
    const multiple = convert(3)?.secretSync;
    expectValid(multiple);
    expect(multiple?.spec.sources).toEqual([
      { kv: { mount: 'secret', path: 'dev/config' }, allKeys: { property: 'foo.nested' } },
    ]);
  });

  it('find (by name, by tags) is dropped with why', () => {
    for (const i of [4, 5]) {
      const conv = convert(i);
      expect(conv?.error).toMatch(/nothing left/);
      expect(conv?.dropped.filter((d) => d.field.endsWith('.find'))).toHaveLength(2);
      expect(conv?.dropped[0]?.why).toMatch(/fixed paths/);
    }
  });
});

describe('ESO docs snippets that are not Vault ExternalSecrets', () => {
  it('full-external-secret.yaml has dataFrom twice in one mapping: a clear error, as kubectl gives', () => {
    expect(() => parseManifests(fixture('snippets/full-external-secret.yaml'), 'full.yaml')).toThrow(InputError);
    expect(() => parseManifests(fixture('snippets/full-external-secret.yaml'), 'full.yaml')).toThrow(
      /full.yaml#1: .*dataFrom|full.yaml#1: Map keys must be unique/,
    );
  });

  it('vault-pushsecret.yaml: the Secret and the PushSecret are skipped with why', () => {
    const parsed = parseManifests(fixture('snippets/vault-pushsecret.yaml'), 'push.yaml');
    expect(parsed.manifests).toEqual([]);
    expect(parsed.skipped.map((s) => `${s.what}: ${s.why}`)).toEqual([
      'Secret source-secret: not an External Secrets Operator object',
      'PushSecret pushsecret-example: PushSecret has no vaultsync equivalent',
    ]);
  });
});

describe('ExternalSecret fields', () => {
  const base = storeFor(store, 'ns');
  const es = (spec: Record<string, unknown>) => ({
    apiVersion: 'external-secrets.io/v1',
    kind: 'ExternalSecret',
    metadata: { name: 'x', namespace: 'ns', labels: { app: 'x' } },
    spec: {
      secretStoreRef: { name: 'kubernetes-provider' },
      data: [{ secretKey: 'k', remoteRef: { key: 'a/b', property: 'p' } }],
      ...spec,
    },
  });
  const one = (spec: Record<string, unknown>) => convertManifests(manifests(base, es(spec))).conversions[0]!;

  it('creationPolicy Orphan → Retain; Merge and None are dropped; deletionPolicy Delete is dropped', () => {
    expect(one({ target: { creationPolicy: 'Orphan' } }).secretSync?.spec.target).toEqual({ deletionPolicy: 'Retain' });
    expect(one({ target: { creationPolicy: 'Owner', deletionPolicy: 'Retain' } }).dropped).toEqual([]);
    for (const policy of ['Merge', 'None']) {
      expect(one({ target: { creationPolicy: policy } }).dropped[0]?.field).toBe('spec.target.creationPolicy');
    }
    expect(one({ target: { deletionPolicy: 'Delete' } }).dropped[0]?.why).toMatch(/keeps the Secret/);
  });

  it('refreshInterval: 0 → CreatedOnce; refreshPolicy carries over; sub-second rounds up with a note', () => {
    expect(one({ refreshInterval: '0' }).secretSync?.spec.refresh).toEqual({ policy: 'CreatedOnce' });
    expect(one({ refreshInterval: '1h0m0s', refreshPolicy: 'OnChange' }).secretSync?.spec.refresh).toEqual({
      interval: '1h',
      policy: 'OnChange',
    });
    const rounded = one({ refreshInterval: '1500ms' });
    expect(rounded.secretSync?.spec.refresh).toEqual({ interval: '2s' });
    expect(rounded.dropped[0]?.why).toMatch(/rounded up to 2s/);
  });

  it('a pinned version, keys with the mount and data/ prefixes, later duplicate secretKeys win', () => {
    const conv = one({
      data: [
        { secretKey: 'k', remoteRef: { key: 'secret/data/app', property: 'old', version: '3' } },
        { secretKey: 'k', remoteRef: { key: '/secret/app', property: 'new', version: '3' } },
      ],
    });
    expect(conv.secretSync?.spec.vault.kv).toEqual({ mount: 'secret', path: 'app', version: 3 });
    expect(conv.secretSync?.spec.data).toEqual([{ secretKey: 'k', property: 'new' }]);
  });

  it('gjson queries, Unicode conversion, unknown fields and templateFrom are dropped; the rest converts', () => {
    const conv = one({
      data: [
        { secretKey: 'a', remoteRef: { key: 'app', property: 'list.#.name' } },
        { secretKey: 'b', remoteRef: { key: 'app', property: 'x\\.y', conversionStrategy: 'Unicode' } },
      ],
      target: { template: { templateFrom: [{ configMap: { name: 'c', items: [{ key: 'k' }] } }] } },
      somethingNew: true,
    });
    expect(conv.dropped.map((d) => d.field)).toEqual([
      'spec.data[0].remoteRef.property',
      'spec.data[1].remoteRef.conversionStrategy',
      'spec.target.template.templateFrom',
      'spec.somethingNew',
    ]);
    expect(conv.secretSync?.spec.data).toEqual([{ secretKey: 'b', property: 'x\\.y' }]);
    expect(conv.secretSync?.metadata.labels).toEqual({ app: 'x' });
  });

  it('a template key that does not translate is dropped, the others kept; reserved labels are refused', () => {
    const conv = one({
      target: {
        template: {
          mergePolicy: 'Merge',
          metadata: { labels: { 'app.kubernetes.io/managed-by': 'eso', team: 'a' } },
          data: { ok: '{{ .k | upper }}', loop: '{{ range $k, $v := . }}{{ $k }}{{ end }}' },
        },
      },
    });
    expect(conv.secretSync?.spec.template).toEqual({ data: { ok: '{{ k | upcase }}' }, mergePolicy: 'Merge' });
    expect(conv.secretSync?.spec.target.labels).toEqual({ team: 'a' });
    expect(conv.dropped.map((d) => d.field).sort()).toEqual([
      'spec.target.template.data.loop',
      'spec.target.template.metadata.labels',
    ]);
  });
});

describe('helpers', () => {
  it('kvRef: ESO key forms', () => {
    expect(kvRef('foo', 'secret')).toEqual({ mount: 'secret', path: 'foo' });
    expect(kvRef('/dev/config', 'secret')).toEqual({ mount: 'secret', path: 'dev/config' });
    expect(kvRef('secret/data/foo', 'secret')).toEqual({ mount: 'secret', path: 'foo' });
    expect(kvRef('kv/team/a', 'kv/team')).toEqual({ mount: 'kv/team', path: 'a' });
    expect(kvRef('secret/data/foo', undefined)).toEqual({ mount: 'secret', path: 'foo' });
    expect(kvRef('secret/foo/bar', undefined)).toEqual({ mount: 'secret', path: 'foo/bar' });
    expect(kvRef('foo', undefined)).toBeUndefined();
    expect(kvRef('a/../b', 'secret')).toBeUndefined();
  });

  it('Go durations', () => {
    expect(goDurationMs('1h0m0s')).toBe(3_600_000);
    expect(goDurationMs('1.5h')).toBe(5_400_000);
    expect(goDurationMs('250ms')).toBe(250);
    expect(goDurationMs('1x')).toBeUndefined();
    expect(formatInterval(5_400_000)).toBe('1h30m');
    expect(formatInterval(61_000)).toBe('1m1s');
    expect(formatInterval(1)).toBe('1s');
    expect(formatInterval(7_200_000)).toBe('2h');
  });

  it('YAML lists (kubectl get -o yaml) are opened', () => {
    const list = { apiVersion: 'v1', kind: 'List', items: [storeFor(store, 'ns')] };
    const [doc] = parseAllDocuments(JSON.stringify(list));
    expect(parseManifests(String(doc), 'list').manifests.map((m) => m.kind)).toEqual(['SecretStore']);
  });
});
