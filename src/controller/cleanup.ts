import { DELETION_POLICY_ANNOTATION, type ManagedSecretIndex, type SecretStore } from './types.js';
import { splitKey, type Key, type Logger } from '../core/types.js';

/**
 * Deletes the managed Secrets owned by `key` whose recorded deletion policy is Delete, except `keep`
 * (the current target). Retained Secrets are left exactly as they are, management labels and
 * annotations included: a SecretSync created again under the same name adopts them.
 * Only Secrets in the key's own namespace are touched, whatever an annotation elsewhere claims.
 * Deletes carry the uid seen in the cache, so a Secret recreated meanwhile is not removed.
 */
export async function deleteOwnedSecrets(
  key: Key,
  secrets: SecretStore & ManagedSecretIndex,
  log: Logger,
  signal: AbortSignal,
  keep?: string,
): Promise<string[]> {
  const { namespace } = splitKey(key);
  const deleted: string[] = [];
  for (const secret of secrets.listByOwner(key)) {
    const { name, uid, annotations } = secret.metadata;
    if (secret.metadata.namespace !== namespace || name === keep) continue;
    if (annotations?.[DELETION_POLICY_ANNOTATION] !== 'Delete') {
      log.debug({ secret: name }, 'Secret has deletion policy Retain; left in place');
      continue;
    }
    if (uid === undefined) {
      log.warn({ secret: name }, 'Secret has no uid in the cache; not deleted without a precondition');
      continue;
    }
    await secrets.delete(namespace, name, uid, signal);
    log.info({ secret: name }, 'deleted Secret no longer wanted by its SecretSync');
    deleted.push(name);
  }
  return deleted;
}
