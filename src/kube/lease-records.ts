import { createHash } from 'node:crypto';
import type { Key, Logger } from '../core/types.js';
import { parseLeaseRecord, type LeaseRecord, type LeaseRecordStore } from '../sources/lease-record.js';
import type { WriteLimiter } from './limiter.js';
import { asRecord } from '../core/json.js';
import type { KubeHttp } from './http.js';
import { apiStatus, kubeError } from './request.js';
import { secretPath, secretsPath } from './secrets.js';

/** The label that marks lease records (and selects them in the one list at start). */
export const LEASE_RECORD_LABEL = 'vaultsync.io/lease-record';
/** `namespace/name` of the SecretSync whose leases a record holds (for people; the data says it too). */
export const LEASE_OWNER_ANNOTATION = 'vaultsync.io/lease-owner';
const DATA_KEY = 'record';

/** One name per SecretSync key, short and valid whatever the key's length. */
export const leaseRecordName = (key: Key): string =>
  `vaultsync-lease-${createHash('sha256').update(key).digest('hex').slice(0, 24)}`;

export interface KubeLeaseRecordsDeps {
  api: Pick<KubeHttp, 'request'>;
  /** The controller's namespace: tenants have no access to it. */
  namespace: string;
  limiter: WriteLimiter;
  log: Logger;
}

/**
 * Lease records as Secrets in the controller's namespace (never labelled managed-by, so the
 * managed-Secret watch and cleanup never see them). Writes pass the same API-write budget as Secrets.
 */
export class KubeLeaseRecords implements LeaseRecordStore {
  constructor(private readonly deps: KubeLeaseRecordsDeps) {}

  async list(signal: AbortSignal): Promise<LeaseRecord[]> {
    const { api, namespace, log } = this.deps;
    let list: unknown;
    try {
      list = await api.request({
        method: 'GET',
        path: secretsPath(namespace),
        query: { labelSelector: LEASE_RECORD_LABEL },
        signal,
      });
    } catch (err) {
      throw kubeError('KubernetesApiError', { verb: 'list', resource: 'Secrets', namespace }, err);
    }
    const records: LeaseRecord[] = [];
    const items = asRecord(list)?.items;
    for (const secret of (Array.isArray(items) ? items : []).map(asRecord)) {
      const encoded = asRecord(secret?.data)?.[DATA_KEY];
      const record =
        typeof encoded !== 'string' ? undefined : parseLeaseRecord(Buffer.from(encoded, 'base64').toString('utf8'));
      // A record vaultsync cannot read is left alone: deleting it could lose the only way to revoke.
      if (record === undefined)
        log.warn({ secret: asRecord(secret?.metadata)?.name }, 'unreadable lease record left in place');
      else records.push(record);
    }
    return records;
  }

  async put(record: LeaseRecord, signal: AbortSignal): Promise<void> {
    const { api, namespace, limiter } = this.deps;
    const name = leaseRecordName(record.key);
    const body = {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: {
        name,
        namespace,
        labels: { [LEASE_RECORD_LABEL]: 'v1', 'app.kubernetes.io/name': 'vaultsync' },
        annotations: { [LEASE_OWNER_ANNOTATION]: record.key },
      },
      type: 'Opaque',
      data: { [DATA_KEY]: Buffer.from(JSON.stringify(record)).toString('base64') },
    };
    const tenant = record.key.slice(0, record.key.indexOf('/'));
    await limiter.run(
      async () => {
        try {
          // Unconditional replace: one key is only ever handled by one worker of the one leader.
          await api.request({ method: 'PUT', path: secretPath(namespace, name), body, signal });
          return;
        } catch (err) {
          if (apiStatus(err) !== 404)
            throw kubeError('KubernetesApiError', { verb: 'update', resource: 'Secret', namespace, name }, err);
        }
        try {
          await api.request({ method: 'POST', path: secretsPath(namespace), body, signal });
        } catch (err) {
          throw kubeError('KubernetesApiError', { verb: 'create', resource: 'Secret', namespace, name }, err);
        }
      },
      signal,
      tenant,
    );
  }

  async delete(key: Key, signal: AbortSignal): Promise<void> {
    const { api, namespace, limiter } = this.deps;
    const name = leaseRecordName(key);
    await limiter.run(
      async () => {
        try {
          await api.request({ method: 'DELETE', path: secretPath(namespace, name), signal });
        } catch (err) {
          if (apiStatus(err) !== 404)
            throw kubeError('KubernetesApiError', { verb: 'delete', resource: 'Secret', namespace, name }, err);
        }
      },
      signal,
      key.slice(0, key.indexOf('/')),
    );
  }
}
