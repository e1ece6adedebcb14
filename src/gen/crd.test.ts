import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { buildCrd, renderCrdYaml } from './crd.js';
import { generatedFiles } from './index.js';
import { renderReference } from './reference.js';
import { MIN_REFRESH_INTERVAL } from '../api/schema.js';
import type { JsonSchemaProps } from './structural.js';

const repoRoot = new URL('../../', import.meta.url);
const openApi = () => buildCrd().spec.versions[0]!.schema.openAPIV3Schema;

describe('committed generated files', () => {
  for (const file of generatedFiles()) {
    it(`${file.path} is up to date`, async () => {
      const committed = await readFile(new URL(file.path, repoRoot), 'utf8').catch(() => '(missing)');
      expect(committed, `${file.path} is stale: run npm run gen`).toBe(file.content);
    });
  }
});

// Independent of structural.ts: what the API server requires of a structural schema
// (apiextensions "Specifying a structural schema"), plus the CEL cost bounds.
const ALLOWED = new Set([
  'description',
  'type',
  'format',
  'enum',
  'default',
  'minimum',
  'maximum',
  'multipleOf',
  'minLength',
  'maxLength',
  'pattern',
  'minItems',
  'maxItems',
  'minProperties',
  'maxProperties',
  'required',
  'properties',
  'additionalProperties',
  'items',
  'x-kubernetes-list-type',
  'x-kubernetes-list-map-keys',
  'x-kubernetes-map-type',
  'x-kubernetes-validations',
]);

function structuralProblems(node: unknown, path: string): string[] {
  if (typeof node !== 'object' || node === null || Array.isArray(node)) return [`${path}: not a schema object`];
  const s = node as JsonSchemaProps & Record<string, unknown>;
  const problems: string[] = [];
  if (Object.getOwnPropertySymbols(s).length > 0) problems.push(`${path}: has symbol keys`);
  for (const key of Object.keys(s)) if (!ALLOWED.has(key)) problems.push(`${path}: keyword ${key}`);
  if (!['object', 'array', 'string', 'integer', 'number', 'boolean'].includes(s.type ?? '')) {
    problems.push(`${path}: no type`);
  }
  if (s.properties !== undefined && s.additionalProperties !== undefined) {
    problems.push(`${path}: properties and additionalProperties together`);
  }
  if (s.type === 'array' && s.items === undefined) problems.push(`${path}: array without items`);
  if (s.type !== 'object' && (s.properties !== undefined || s.additionalProperties !== undefined)) {
    problems.push(`${path}: properties on a non-object`);
  }
  if (s['x-kubernetes-validations'] !== undefined) {
    if (s.type === 'string' && s.maxLength === undefined) problems.push(`${path}: CEL on a string without maxLength`);
    if (s.type === 'array' && s.maxItems === undefined) problems.push(`${path}: CEL on a list without maxItems`);
  }
  if (s['x-kubernetes-list-type'] === 'map') {
    for (const key of s['x-kubernetes-list-map-keys'] ?? []) {
      if (!(s.items?.required ?? []).includes(key)) problems.push(`${path}: list-map key ${key} not required`);
    }
  }
  for (const [name, child] of Object.entries(s.properties ?? {}))
    problems.push(...structuralProblems(child, `${path}.${name}`));
  if (s.items !== undefined) problems.push(...structuralProblems(s.items, `${path}[]`));
  if (s.additionalProperties !== undefined) problems.push(...structuralProblems(s.additionalProperties, `${path}[*]`));
  return problems;
}

function nodes(s: JsonSchemaProps, path = ''): [string, JsonSchemaProps][] {
  return [
    [path, s],
    ...Object.entries(s.properties ?? {}).flatMap(([n, c]) => nodes(c, path ? `${path}.${n}` : n)),
    ...(s.items ? nodes(s.items, `${path}[]`) : []),
    ...(s.additionalProperties ? nodes(s.additionalProperties, `${path}[*]`) : []),
  ];
}

describe('CRD', () => {
  it('is a structural schema', () => {
    expect(structuralProblems(openApi(), '')).toEqual([]);
  });

  it('the walker would catch a node without type and properties mixed with additionalProperties', () => {
    const broken = {
      type: 'object',
      properties: { a: { description: 'x' } },
      additionalProperties: { type: 'string' },
    };
    expect(structuralProblems(broken, '')).toEqual([': properties and additionalProperties together', '.a: no type']);
  });

  it('requires spec; metadata is a bare object; status is a subresource', () => {
    const crd = buildCrd();
    const version = crd.spec.versions[0]!;
    expect(version.schema.openAPIV3Schema.required).toEqual(['spec']);
    expect(version.schema.openAPIV3Schema.properties?.metadata).toEqual({ type: 'object' });
    expect(version.subresources).toEqual({ status: {} });
    expect(crd.spec.versions).toHaveLength(1);
    expect(version).toMatchObject({ name: 'v1alpha1', served: true, storage: true });
  });

  it('has names, short name, category and scope', () => {
    const crd = buildCrd();
    expect(crd.metadata.name).toBe('secretsyncs.vaultsync.io');
    expect(crd.spec).toMatchObject({
      group: 'vaultsync.io',
      scope: 'Namespaced',
      names: {
        kind: 'SecretSync',
        listKind: 'SecretSyncList',
        plural: 'secretsyncs',
        singular: 'secretsync',
        shortNames: ['ssync'],
        categories: ['vaultsync'],
      },
    });
  });

  it('has the printer columns', () => {
    expect(buildCrd().spec.versions[0]!.additionalPrinterColumns).toEqual([
      { name: 'Ready', type: 'string', jsonPath: '.status.conditions[?(@.type=="Ready")].status' },
      { name: 'Reason', type: 'string', jsonPath: '.status.conditions[?(@.type=="Ready")].reason' },
      { name: 'Secret', type: 'string', jsonPath: '.status.secretName' },
      { name: 'Vault Version', type: 'integer', jsonPath: '.status.vaultVersion' },
      { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
      expect.objectContaining({ name: 'Interval', type: 'string', jsonPath: '.spec.refresh.interval', priority: 1 }),
      expect.objectContaining({ name: 'Last Sync', type: 'date', jsonPath: '.status.lastSyncTime', priority: 1 }),
    ]);
  });

  it('translates TypeBox constructs into their structural forms', () => {
    const spec = openApi().properties!.spec!;
    const target = spec.properties!.target!;
    expect(target.properties!.labels).toMatchObject({
      description: 'Extra labels on the Secret (values up to 63 characters).',
      type: 'object',
      maxProperties: 64,
      additionalProperties: { type: 'string', maxLength: 63 },
    });
    expect(target.properties!.annotations!.additionalProperties).toEqual({ type: 'string', maxLength: 4096 });
    expect(target.properties!.labels!['x-kubernetes-validations']![0]!.rule).toContain('vaultsync\\\\.io');
    expect(target.properties!.deletionPolicy).toMatchObject({
      type: 'string',
      enum: ['Delete', 'Retain'],
      default: 'Delete',
    });
    // The API server validates a default without applying the defaults inside it.
    expect(target.default).toEqual({ type: 'Opaque', immutable: false, deletionPolicy: 'Delete' });
    expect(spec.properties!.refresh!.default).toEqual({ policy: 'Periodic' });
    expect(spec.properties!.vault!.properties!.kv!.properties!.mount!.default).toBe('secret');
    expect(spec.required).toEqual(['vault', 'auth', 'target', 'refresh']);
    const conditions = openApi().properties!.status!.properties!.conditions!;
    expect(conditions['x-kubernetes-list-type']).toBe('map');
    expect(conditions['x-kubernetes-list-map-keys']).toEqual(['type']);
    expect(conditions.items!.properties!.status!.enum).toEqual(['True', 'False', 'Unknown']);
  });

  it('keeps the CEL rules, each on a bounded string', () => {
    const withRules = nodes(openApi()).filter(([, s]) => s['x-kubernetes-validations'] !== undefined);
    expect(withRules.map(([p]) => p)).toEqual([
      'spec',
      'spec.vault.address',
      'spec.vault.caBundle',
      'spec.vault.kv.path',
      'spec.sources',
      'spec.sources[]',
      'spec.sources[].kv.path',
      'spec.sources[].database.renewBefore',
      'spec.sources[].pki.ttl',
      'spec.sources[].pki.renewBefore',
      'spec.target.type',
      'spec.target.labels',
      'spec.target.annotations',
      'spec.refresh.interval',
    ]);
    const interval = withRules.find(([p]) => p === 'spec.refresh.interval')![1];
    expect(interval['x-kubernetes-validations']![0]).toEqual({
      rule: `duration(self) >= duration('${MIN_REFRESH_INTERVAL}')`,
      message: `refresh.interval must be at least ${MIN_REFRESH_INTERVAL}`,
    });
  });

  it('makes spec.data secretKeys unique by list-map key, not by a quadratic CEL rule', () => {
    const data = openApi().properties!.spec!.properties!.data!;
    expect(data['x-kubernetes-list-type']).toBe('map');
    expect(data['x-kubernetes-list-map-keys']).toEqual(['secretKey']);
    expect(data['x-kubernetes-validations']).toBeUndefined();
  });

  it('renders YAML that parses back to the same object, with the generated-file header', () => {
    const text = renderCrdYaml();
    expect(text.split('\n')[0]).toBe('# generated by npm run gen; do not edit');
    // Catches YAML 1.1 traps: "True"/"False" must stay strings, patterns must keep their backslashes.
    expect(parse(text)).toEqual(buildCrd());
  });
});

describe('API reference', () => {
  const text = renderReference();
  const row = (path: string) => text.split('\n').find((l) => l.startsWith(`| \`${path}\` |`));

  it('has a row for every field of the schema', () => {
    const paths = nodes(openApi())
      .map(([p]) => p)
      .filter((p) => (p.startsWith('spec') || p.startsWith('status')) && !/\[\]$|\[\*\]$/.test(p));
    expect(paths.length).toBeGreaterThan(30);
    for (const p of paths) expect(row(p), p).toBeDefined();
  });

  it('states type, default, required and validation', () => {
    expect(row('spec.vault.kv.mount')).toBe(
      '| `spec.vault.kv.mount` | string | `"secret"` | no | KV v2 mount path. Default: secret. | length 1..256<br>pattern `^[^/](.*[^/])?$` |',
    );
    expect(row('spec.vault.kv.path')).toContain('| yes |');
    expect(row('spec.target.labels')).toContain('| map[string]string |');
    expect(row('spec.data')).toContain('items unique by `secretKey`');
    expect(row('spec.auth.kubernetes.audiences[]')).toContain('length 1..256');
    expect(row('spec.target.deletionPolicy')).toContain('one of `Delete`, `Retain`');
  });

  it('lists CEL rules with their messages, with table pipes escaped', () => {
    expect(row('spec.vault.kv.path')).toContain(
      "CEL `!self.split('/').exists(s, s == '' \\|\\| s == '.' \\|\\| s == '..')`: \"path must not contain empty, . or .. segments\"",
    );
    expect(row('spec.refresh.interval')).toContain(`"refresh.interval must be at least ${MIN_REFRESH_INTERVAL}"`);
    // Every row has exactly the 6 columns: no unescaped pipe splits a cell.
    for (const line of text.split('\n').filter((l) => l.startsWith('| `spec') || l.startsWith('| `status'))) {
      expect(line.replaceAll('\\|', '').split('|').length - 2, line).toBe(6);
    }
  });
});
