import { API_VERSION, KIND, type SecretSync } from '../api/index.js';
import { contentHmac } from './hash.js';
import {
  DELETION_POLICY_ANNOTATION,
  HASH_ANNOTATION,
  MANAGED_BY_LABEL,
  MANAGED_BY_VALUE,
  OWNER_ANNOTATION,
  OWNER_UID_ANNOTATION,
  VAULT_VERSION_ANNOTATION,
  type OwnerReference,
  type SecretObject,
} from '../controller/types.js';
import { keyOf } from '../core/types.js';

/** Name of the Secret a SecretSync writes: spec.target.name, else the SecretSync's own name. */
export const targetName = (sync: SecretSync): string => sync.spec.target.name ?? sync.metadata.name;

/** The controller owner reference that lets Kubernetes garbage-collect the Secret with its SecretSync. */
export function ownerReferenceOf(sync: SecretSync): OwnerReference {
  return {
    apiVersion: API_VERSION,
    kind: KIND,
    name: sync.metadata.name,
    uid: sync.metadata.uid,
    controller: true,
    blockOwnerDeletion: true,
  };
}

/**
 * The Secret as vaultsync wants it. Labels and annotations from spec.target come first and ours win,
 * so a spec cannot disown the Secret or forge its HMAC. The owner reference is set only for
 * deletionPolicy Delete: with Retain, garbage collection must not remove the Secret.
 */
export function desiredSecret(
  sync: SecretSync,
  data: Record<string, string>,
  /** The version of each source item, in order. */
  versions: readonly number[],
  hashKey: Buffer,
): SecretObject {
  const { target } = sync.spec;
  const labels = { ...target.labels, [MANAGED_BY_LABEL]: MANAGED_BY_VALUE };
  const userAnnotations = Object.entries(target.annotations ?? {}).filter(([k]) => k !== HASH_ANNOTATION);
  const annotations: Record<string, string> = {
    ...Object.fromEntries(userAnnotations),
    [OWNER_ANNOTATION]: keyOf(sync),
    [OWNER_UID_ANNOTATION]: sync.metadata.uid,
    [DELETION_POLICY_ANNOTATION]: target.deletionPolicy,
    [VAULT_VERSION_ANNOTATION]: versions.join(','),
  };
  const hmac = contentHmac(hashKey, { type: target.type, immutable: target.immutable, data, labels, annotations });
  return {
    metadata: {
      name: targetName(sync),
      namespace: sync.metadata.namespace,
      labels,
      annotations: { ...annotations, [HASH_ANNOTATION]: hmac },
      ...(target.deletionPolicy === 'Delete' ? { ownerReferences: [ownerReferenceOf(sync)] } : {}),
    },
    type: target.type,
    data,
    immutable: target.immutable,
  };
}
