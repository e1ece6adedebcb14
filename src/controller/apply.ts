import { GROUP, KIND } from '../api/index.js';
import { SyncError, isSyncError } from '../errors.js';
import {
  HASH_ANNOTATION,
  OWNER_ANNOTATION,
  type OwnerReference,
  type SecretObject,
  type SecretStore,
  type StoredSecret,
} from './types.js';
import { type Key } from '../core/types.js';

/** What applySecret did. */
export type WriteResult = 'created' | 'updated' | 'replaced' | 'unchanged';

/** What applySecret did, and the resourceVersion of the Secret that now matches `desired`: the one
 *  our write returned, or the one found equal (undefined only if the API server gave none). */
export interface Applied {
  write: WriteResult;
  resourceVersion: string | undefined;
}

export const ownerOf = (secret: Pick<StoredSecret, 'metadata'>): string | undefined =>
  secret.metadata.annotations?.[OWNER_ANNOTATION];

/**
 * Makes the target Secret equal to `desired`, writing only when its content differs.
 *
 * Ownership: a Secret is ours when its OWNER_ANNOTATION is `key`. A Secret of the target name that is
 * not ours (unmanaged, or managed by another SecretSync) is never written: SecretConflict.
 *
 * Metadata: we own the labels and annotations in `desired` and every data key; labels, annotations
 * and owner references others added are kept. A label or annotation removed from spec.target stays
 * on the Secret, since it cannot be told apart from one another tool added.
 *
 * Immutable targets: data and type cannot change in place, so the Secret is deleted (uid
 * precondition) and created again under the same name. Metadata-only changes are updates.
 */
export async function applySecret(
  key: Key,
  desired: SecretObject,
  secrets: SecretStore,
  signal: AbortSignal,
): Promise<Applied> {
  const { namespace, name } = desired.metadata;
  let actual = secrets.getCached(namespace, name);
  if (actual === undefined) {
    const found = await createOrFindOurs(key, desired, secrets, signal);
    if (found.created) return applied('created', found.secret);
    actual = found.secret; // ours, but not yet in the cache
  }
  if (ownerOf(actual) !== key) throw conflict(name, ownerOf(actual));
  if (actual.metadata.deletionTimestamp !== undefined) {
    throw new SyncError('KubernetesApiError', `Secret ${name} is being deleted; it is created again once it is gone`);
  }
  const next = merged(actual, desired);
  const nextDigest = secrets.digestData(next.data);
  if (!differs(actual, next, nextDigest)) return applied('unchanged', actual);
  if (needsReplace(actual, next, nextDigest)) {
    await secrets.delete(namespace, name, uidOf(actual), signal);
    const { uid: _uid, resourceVersion: _rv, ...fresh } = next.metadata;
    const again = await createOrFindOurs(key, { ...next, metadata: fresh }, secrets, signal);
    if (!again.created) {
      throw new SyncError(
        'KubernetesApiError',
        `Secret ${name} still exists after deleting it for replacement; retrying`,
        {
          status: 409,
        },
      );
    }
    return applied('replaced', again.secret);
  }
  return applied('updated', await secrets.update(next, signal));
}

const applied = (write: WriteResult, secret: StoredSecret): Applied => ({
  write,
  resourceVersion: secret.metadata.resourceVersion,
});

/** Creates `desired`; on 409 reads the live Secret and returns it if it is ours (the cache lagged). */
async function createOrFindOurs(
  key: Key,
  desired: SecretObject,
  secrets: SecretStore,
  signal: AbortSignal,
): Promise<{ created: boolean; secret: StoredSecret }> {
  try {
    return { created: true, secret: await secrets.create(desired, signal) };
  } catch (err) {
    if (!isSyncError(err) || err.status !== 409) throw err;
  }
  const { namespace, name } = desired.metadata;
  const live = await secrets.get(namespace, name, signal);
  if (live === undefined) {
    throw new SyncError('KubernetesApiError', `Secret ${name} was being created or deleted concurrently; retrying`, {
      status: 409,
    });
  }
  if (ownerOf(live) !== key) throw conflict(name, ownerOf(live));
  return { created: false, secret: live };
}

function conflict(name: string, owner: string | undefined): SyncError {
  const by = owner === undefined ? '' : ` (it is managed by SecretSync ${owner})`;
  return new SyncError(
    'SecretConflict',
    `Secret ${name} exists and is not managed by this SecretSync${by}; delete or rename it, or change spec.target.name`,
  );
}

/** `actual` with everything we own set as in `desired`, and what others own kept. */
function merged(actual: StoredSecret, desired: SecretObject): SecretObject {
  const foreignRefs = (actual.metadata.ownerReferences ?? []).filter((r) => !isSecretSyncRef(r));
  const refs = [...foreignRefs, ...(desired.metadata.ownerReferences ?? [])];
  return {
    metadata: {
      name: actual.metadata.name,
      namespace: actual.metadata.namespace,
      uid: actual.metadata.uid,
      resourceVersion: actual.metadata.resourceVersion,
      labels: { ...actual.metadata.labels, ...desired.metadata.labels },
      annotations: { ...actual.metadata.annotations, ...desired.metadata.annotations },
      ownerReferences: refs,
    },
    type: desired.type,
    data: desired.data,
    immutable: desired.immutable,
  };
}

/** Any reference to a SecretSync is ours: a stale one (SecretSync recreated, new uid) is replaced. */
const isSecretSyncRef = (r: OwnerReference): boolean => r.kind === KIND && r.apiVersion.startsWith(`${GROUP}/`);

/**
 * Whether writing `next` would change `actual`. The HMAC annotation alone is not enough: a hand edit
 * of data leaves it unchanged, so the data (by digest), type, our labels, annotations and owner
 * references are compared too.
 */
function differs(actual: StoredSecret, next: SecretObject, nextDigest: string): boolean {
  const a = actual.metadata;
  const n = next.metadata;
  return (
    a.annotations?.[HASH_ANNOTATION] !== n.annotations?.[HASH_ANNOTATION] ||
    actual.type !== next.type ||
    (actual.immutable ?? false) !== (next.immutable ?? false) ||
    actual.dataDigest !== nextDigest ||
    !sameMap(a.labels ?? {}, n.labels ?? {}) ||
    !sameMap(a.annotations ?? {}, n.annotations ?? {}) ||
    refsText(a.ownerReferences) !== refsText(n.ownerReferences)
  );
}

/** Owner references in a form that does not depend on property order or omitted false flags. */
const refsText = (refs: OwnerReference[] | undefined): string =>
  JSON.stringify(
    (refs ?? []).map((r) => [
      r.apiVersion,
      r.kind,
      r.name,
      r.uid,
      r.controller ?? false,
      r.blockOwnerDeletion ?? false,
    ]),
  );

/** Type never changes in place; data of an immutable Secret does not either, nor can it become mutable. */
function needsReplace(actual: StoredSecret, next: SecretObject, nextDigest: string): boolean {
  if (actual.type !== next.type) return true;
  if (actual.immutable !== true) return false;
  return actual.dataDigest !== nextDigest || next.immutable !== true;
}

function sameMap(a: Record<string, string>, b: Record<string, string>): boolean {
  const keys = Object.keys(a);
  return keys.length === Object.keys(b).length && keys.every((k) => Object.hasOwn(b, k) && a[k] === b[k]);
}

function uidOf(secret: StoredSecret): string {
  const { uid } = secret.metadata;
  if (uid === undefined) {
    throw new SyncError('KubernetesApiError', `Secret ${secret.metadata.name} has no uid; cannot replace it safely`);
  }
  return uid;
}
