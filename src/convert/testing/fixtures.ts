/** ESO manifests copied into test/fixtures/eso/ (origin and licence in its README.md). */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';

export const ESO_FIXTURES = join(import.meta.dirname, '..', '..', '..', 'test', 'fixtures', 'eso');

export function fixture(path: string): string {
  return readFileSync(join(ESO_FIXTURES, path), 'utf8');
}

export interface E2eCase {
  name: string;
  from: string;
  namespace: string;
  converts?: boolean;
  vault: Record<string, Record<string, unknown>>;
  externalSecret: Record<string, unknown>;
  expected: {
    name?: string;
    type: string;
    data: Record<string, string>;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
}

/** ESO's Vault e2e cases as manifests (test/fixtures/eso/e2e/vault-cases.yaml). */
export function e2eCases(): {
  store: Record<string, unknown>;
  clusterStore: Record<string, unknown>;
  cases: E2eCase[];
} {
  return parse(fixture('e2e/vault-cases.yaml')) as ReturnType<typeof e2eCases>;
}

/** The manifests of one case: its store (or the ClusterSecretStore) and its ExternalSecret. */
export function caseManifests(c: E2eCase): Record<string, unknown>[] {
  const { store, clusterStore } = e2eCases();
  const ref = (c.externalSecret.spec as { secretStoreRef: { kind?: string } }).secretStoreRef;
  return [ref.kind === 'ClusterSecretStore' ? clusterStore : storeFor(store, c.namespace), c.externalSecret];
}

/** The case's store placed in the case's namespace. */
export function storeFor(store: Record<string, unknown>, namespace: string): Record<string, unknown> {
  const meta = store.metadata as Record<string, unknown>;
  return { ...store, metadata: { ...meta, namespace } };
}
