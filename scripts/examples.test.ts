import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { validateSecretSync } from '../src/api/index.js';

/** Every SecretSync in examples/ is valid against the schema (defaults applied, as the API server would). */
const DIR = join(import.meta.dirname, '..', 'examples');

describe('examples/', () => {
  const files = readdirSync(DIR).filter((f) => f.endsWith('.yaml'));

  it.each(files)('%s: its SecretSyncs validate', (file) => {
    const docs = parseAllDocuments(readFileSync(join(DIR, file), 'utf8')).map(
      (d) => d.toJS() as Record<string, unknown>,
    );
    const syncs = docs.filter((d) => d.kind === 'SecretSync');
    expect(syncs.length).toBeGreaterThan(0);
    for (const s of syncs) {
      const meta = s.metadata as Record<string, unknown>;
      const result = validateSecretSync({ ...s, metadata: { ...meta, uid: 'example' } });
      expect(result.ok ? [] : result.errors).toEqual([]);
    }
  });
});
