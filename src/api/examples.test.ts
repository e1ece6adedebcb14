/**
 * examples/: every YAML file parses, every object has apiVersion, kind and a name, and every
 * SecretSync passes the controller's own validation (the schema the CRD is generated from, plus the
 * rules the CRD states in CEL). test/e2e/chart.test.ts applies them to the real API server too.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { API_VERSION, KIND } from './schema.js';
import { validateSecretSync } from './validate.js';

const dir = new URL('../../examples/', import.meta.url);
const files = readdirSync(dir).filter((f) => f.endsWith('.yaml'));

interface Obj {
  apiVersion?: string;
  kind?: string;
  metadata?: { name?: string; namespace?: string };
}

function documents(file: string): Obj[] {
  const docs = parseAllDocuments(readFileSync(new URL(file, dir), 'utf8'));
  for (const d of docs) if (d.errors.length > 0) throw new Error(`${file}: ${d.errors[0]!.message}`);
  return docs.map((d) => d.toJS() as Obj | null).filter((o): o is Obj => o !== null);
}

describe('examples/', () => {
  it('holds examples, the lab first among them', () => {
    expect(files.length).toBeGreaterThanOrEqual(5);
    expect(files).toContain('lab-myapp.yaml');
  });

  it.each(files)('%s parses into Kubernetes objects with apiVersion, kind and name', (file) => {
    const objs = documents(file);
    expect(objs.length).toBeGreaterThan(0);
    for (const o of objs) {
      expect(o.apiVersion, file).toMatch(/^[a-z0-9.]*\/?v[0-9]+/);
      expect(o.kind, file).toMatch(/^[A-Z]/);
      expect(o.metadata?.name, file).toBeTruthy();
    }
  });

  it.each(files)('%s: every SecretSync is valid', (file) => {
    for (const o of documents(file).filter((x) => x.kind === KIND)) {
      expect(o.apiVersion).toBe(API_VERSION);
      expect(o.metadata?.namespace, `${file}: ${o.metadata?.name} names its namespace`).toBeTruthy();
      // The API server adds the uid the controller's validation expects of a stored object.
      const stored = { ...o, metadata: { ...o.metadata, uid: 'example' } };
      const result = validateSecretSync(stored);
      expect(result.ok ? [] : result.errors, `${file}: ${o.metadata?.name}`).toEqual([]);
    }
  });

  it('the validation would catch a broken example', () => {
    const broken = {
      apiVersion: API_VERSION,
      kind: KIND,
      metadata: { name: 'x', namespace: 'y', uid: 'z' },
      spec: { vault: { kv: { path: '/leading' } }, auth: { kubernetes: { role: 'r' } }, target: {} },
    };
    expect(validateSecretSync(broken).ok).toBe(false);
  });
});
