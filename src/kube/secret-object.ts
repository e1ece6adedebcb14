import type { OwnerReference, SecretObject, StoredSecret } from '../controller/types.js';
import { asRecord } from '../core/json.js';

/**
 * The narrow SecretObject from a raw JSON Secret (reads, lists, watch events; a Date for a
 * timestamp is accepted too). Fields the controller never reads
 * (managedFields, creationTimestamp, ...) are left out of the cache.
 */
export function toSecretObject(raw: unknown): SecretObject | undefined {
  const obj = asRecord(raw);
  const md = asRecord(obj?.metadata);
  if (obj === undefined || md === undefined) return undefined;
  if (typeof md.name !== 'string' || typeof md.namespace !== 'string') return undefined;
  const metadata: SecretObject['metadata'] = { name: md.name, namespace: md.namespace };
  if (typeof md.uid === 'string') metadata.uid = md.uid;
  if (typeof md.resourceVersion === 'string') metadata.resourceVersion = md.resourceVersion;
  const labels = stringMap(md.labels);
  if (labels !== undefined) metadata.labels = labels;
  const annotations = stringMap(md.annotations);
  if (annotations !== undefined) metadata.annotations = annotations;
  const owners = ownerReferences(md.ownerReferences);
  if (owners !== undefined) metadata.ownerReferences = owners;
  const deletion = md.deletionTimestamp;
  if (deletion instanceof Date) metadata.deletionTimestamp = deletion.toISOString();
  else if (typeof deletion === 'string') metadata.deletionTimestamp = deletion;
  const secret: SecretObject = {
    metadata,
    type: typeof obj.type === 'string' ? obj.type : 'Opaque',
    data: stringMap(obj.data) ?? {},
  };
  if (typeof obj.immutable === 'boolean') secret.immutable = obj.immutable;
  return secret;
}

/**
 * The cached form of a Secret: metadata and the keyed digest of its data. The data is digested here,
 * as the object enters the cache (an informer transform), and not kept.
 */
export function toStoredSecret(
  raw: unknown,
  digestData: (data: Record<string, string>) => string,
): StoredSecret | undefined {
  const full = toSecretObject(raw);
  if (full === undefined) return undefined;
  const { data, ...rest } = full;
  return { ...rest, dataDigest: digestData(data) };
}

/** The request body for create and replace; resourceVersion and uid make a replace conditional. */
export function toV1Secret(secret: SecretObject): Record<string, unknown> {
  const { name, namespace, uid, resourceVersion, labels, annotations, ownerReferences } = secret.metadata;
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name, namespace, uid, resourceVersion, labels, annotations, ownerReferences },
    type: secret.type,
    data: secret.data,
    immutable: secret.immutable,
  };
}

function stringMap(v: unknown): Record<string, string> | undefined {
  const rec = asRecord(v);
  if (rec === undefined) return undefined;
  const out: Record<string, string> = {};
  for (const [k, val] of Object.entries(rec)) if (typeof val === 'string') out[k] = val;
  return out;
}

function ownerReferences(v: unknown): OwnerReference[] | undefined {
  if (!Array.isArray(v)) return undefined;
  const out: OwnerReference[] = [];
  for (const item of v) {
    const r = asRecord(item);
    if (r === undefined) continue;
    const { apiVersion, kind, name, uid, controller, blockOwnerDeletion } = r;
    if (typeof apiVersion !== 'string' || typeof kind !== 'string') continue;
    if (typeof name !== 'string' || typeof uid !== 'string') continue;
    const ref: OwnerReference = { apiVersion, kind, name, uid };
    if (typeof controller === 'boolean') ref.controller = controller;
    if (typeof blockOwnerDeletion === 'boolean') ref.blockOwnerDeletion = blockOwnerDeletion;
    out.push(ref);
  }
  return out;
}
