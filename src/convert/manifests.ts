/** ESO manifests from YAML text or API lists: which objects there are, by kind. */
import { parseAllDocuments } from 'yaml';
import { asRecord } from '../core/json.js';

export const ESO_GROUP = 'external-secrets.io';
/** The ESO API versions whose ExternalSecret and store shapes the converter reads (the same in both). */
export const ESO_VERSIONS = ['v1', 'v1beta1'] as const;
export const ESO_KINDS = ['ExternalSecret', 'SecretStore', 'ClusterSecretStore'] as const;
export type EsoKind = (typeof ESO_KINDS)[number];

export interface Manifest {
  kind: EsoKind;
  apiVersion: string;
  name: string;
  /** Absent for ClusterSecretStores, and for namespaced objects given without one. */
  namespace?: string;
  /** Where it came from, for messages: `file.yaml#2` or `cluster`. */
  origin: string;
  raw: Record<string, unknown>;
}

/** Something in the input that is not converted, and why (not a dropped field: nothing to convert). */
export interface Skipped {
  origin: string;
  what: string;
  why: string;
}

export class InputError extends Error {
  override readonly name = 'InputError';
}

export interface ParsedInput {
  manifests: Manifest[];
  skipped: Skipped[];
}

/**
 * Every document of a multi-document YAML text (a `kind: List` is opened up). Throws InputError
 * naming the document on YAML errors (duplicate keys included: kubectl refuses those too).
 */
export function parseManifests(text: string, source: string): ParsedInput {
  const out: ParsedInput = { manifests: [], skipped: [] };
  const docs = parseAllDocuments(text, { uniqueKeys: true });
  if (!Array.isArray(docs)) throw new InputError(`${source}: not YAML documents`);
  docs.forEach((doc, i) => {
    const origin = `${source}#${i + 1}`;
    const [error] = doc.errors;
    if (error) throw new InputError(`${origin}: ${error.message.split('\n')[0] ?? 'invalid YAML'}`);
    const value: unknown = doc.toJS({ maxAliasCount: 100 });
    if (value === null || value === undefined) return;
    collect(value, origin, out);
  });
  return out;
}

/** Adds one object (or the items of a List) to `out`. */
export function collect(value: unknown, origin: string, out: ParsedInput): void {
  const obj = asRecord(value);
  if (obj === undefined) {
    out.skipped.push({ origin, what: 'a document', why: 'not a Kubernetes object' });
    return;
  }
  const kind = typeof obj.kind === 'string' ? obj.kind : '';
  const apiVersion = typeof obj.apiVersion === 'string' ? obj.apiVersion : '';
  if (kind.endsWith('List') && Array.isArray(obj.items)) {
    obj.items.forEach((item, j) => collect(item, `${origin}[${j}]`, out));
    return;
  }
  const meta = asRecord(obj.metadata) ?? {};
  const name = typeof meta.name === 'string' ? meta.name : '';
  const what = `${kind || 'object'} ${name || '(no name)'}`;
  const [group, version] = apiVersion.includes('/') ? apiVersion.split('/', 2) : ['', apiVersion];
  if (group !== ESO_GROUP) {
    out.skipped.push({ origin, what, why: 'not an External Secrets Operator object' });
    return;
  }
  if (!(ESO_KINDS as readonly string[]).includes(kind)) {
    out.skipped.push({ origin, what, why: `${kind} has no vaultsync equivalent` });
    return;
  }
  if (!(ESO_VERSIONS as readonly string[]).includes(version ?? '')) {
    out.skipped.push({
      origin,
      what,
      why: `${apiVersion} is not read; export it as external-secrets.io/v1 or v1beta1`,
    });
    return;
  }
  if (name === '') {
    out.skipped.push({ origin, what, why: 'no metadata.name' });
    return;
  }
  const m: Manifest = { kind: kind as EsoKind, apiVersion, name, origin, raw: obj };
  if (typeof meta.namespace === 'string' && meta.namespace !== '' && kind !== 'ClusterSecretStore') {
    m.namespace = meta.namespace;
  }
  out.manifests.push(m);
}
