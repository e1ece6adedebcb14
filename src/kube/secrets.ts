import {
  MANAGED_BY_LABEL,
  MANAGED_BY_VALUE,
  OWNER_ANNOTATION,
  type ManagedSecretIndex,
  type SecretObject,
  type SecretStore,
  type StoredSecret,
} from '../controller/types.js';
import { dataDigest } from '../render/index.js';
import { type Key, type Logger } from '../core/types.js';
import type { KubeHttp } from './http.js';
import { Informer } from './informer.js';
import type { WriteLimiter } from './limiter.js';
import type { ReflectorTiming, ResourceSource } from './reflector.js';
import { apiStatus, kubeError } from './request.js';
import { toStoredSecret, toV1Secret } from './secret-object.js';
import { LIST_TIMEOUT_MS, rawListPage } from './secretsyncs.js';

export const MANAGED_SELECTOR = `${MANAGED_BY_LABEL}=${MANAGED_BY_VALUE}`;

export function secretSource(api: KubeHttp): ResourceSource {
  return {
    resource: 'secrets',
    async list(req) {
      const request = {
        path: secretsPath(req.namespace),
        query: {
          labelSelector: req.labelSelector,
          limit: req.limit,
          continue: req.continueToken,
        },
        signal: req.signal,
        timeoutMs: LIST_TIMEOUT_MS,
      } as const;
      if (req.onItem === undefined) return rawListPage(await api.request({ method: 'GET', ...request }));
      return rawListPage(await api.list({ method: 'GET', ...request }, req.onItem));
    },
    watchPath: secretsPath,
  };
}

export function secretsPath(namespace: string | undefined): string {
  return namespace === undefined ? '/api/v1/secrets' : `/api/v1/namespaces/${encodeURIComponent(namespace)}/secrets`;
}

export function secretPath(namespace: string, name: string): string {
  return `${secretsPath(namespace)}/${encodeURIComponent(name)}`;
}

export interface ManagedSecretsOptions {
  api: KubeHttp;
  limiter: WriteLimiter;
  /** Key of the data digest the cache keeps instead of data (the content-HMAC key). */
  hashKey: Buffer;
  namespaces?: readonly string[] | undefined;
  log: Logger;
  timing?: Partial<ReflectorTiming>;
}

const RESOURCE = 'Secret';

/** What a write of ours sets on a Secret (its data by digest). */
interface Expected {
  type: string;
  immutable: boolean;
  dataDigest: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

/**
 * The Secrets vaultsync manages (label app.kubernetes.io/managed-by=vaultsync): a cache indexed
 * by owning SecretSync, plus live reads and rate-limited writes. Each successful write goes into
 * the cache at once so the next reconcile never acts on the object it just replaced. The cache
 * keeps metadata and a keyed digest of the data, never the data (StoredSecret).
 */
export class ManagedSecrets implements SecretStore, ManagedSecretIndex {
  readonly informer: Informer<StoredSecret>;
  private readonly api: KubeHttp;
  private readonly limiter: WriteLimiter;
  private readonly hashKey: Buffer;
  /**
   * Our writes in flight, by `namespace/name`. The watch event of a write often arrives before its
   * answer (which is what puts it in the cache); an event that shows everything the write sets is
   * that echo, and wakes no owner: the owner's reconcile is the writer, and a reconcile woken by it
   * would only find its own Secret (a push or an initial sync would run every key twice).
   */
  private readonly writing = new Map<string, Expected>();

  constructor(opts: ManagedSecretsOptions) {
    this.api = opts.api;
    this.limiter = opts.limiter;
    this.hashKey = opts.hashKey;
    this.informer = new Informer<StoredSecret>({
      name: 'managed-secrets',
      api: opts.api,
      source: secretSource(opts.api),
      transform: (raw) => toStoredSecret(raw, (data) => this.digestData(data)),
      namespaces: opts.namespaces,
      labelSelector: MANAGED_SELECTOR,
      indexBy: (s) => s.metadata.annotations?.[OWNER_ANNOTATION],
      log: opts.log,
      ...(opts.timing === undefined ? {} : { timing: opts.timing }),
    });
  }

  /**
   * Calls `handler` with the owning SecretSync's key (and the Secret, so the caller can check it
   * really belongs to that owner) whenever one of its Secrets changes or goes away (both owners when
   * the annotation moved), so a deleted or edited Secret is repaired.
   */
  onOwnerChange(handler: (owner: Key, secret: StoredSecret) => void): void {
    const owner = (s: StoredSecret) => s.metadata.annotations?.[OWNER_ANNOTATION];
    const emit = (s: StoredSecret) => {
      const key = owner(s);
      if (key !== undefined && key !== '') handler(key, s);
    };
    this.informer.addHandlers({
      add: (_k, s) => {
        if (!this.isEcho(s)) emit(s);
      },
      update: (_k, s, old) => {
        if (!this.isEcho(s)) emit(s);
        if (owner(old) !== owner(s)) emit(old);
      },
      delete: (_k, s) => {
        emit(s);
      },
    });
  }

  getCached(namespace: string, name: string): StoredSecret | undefined {
    return this.informer.get(`${namespace}/${name}`);
  }

  listByOwner(key: Key): StoredSecret[] {
    return this.informer.byIndex(key);
  }

  digestData(data: Record<string, string>): string {
    return dataDigest(this.hashKey, data);
  }

  async get(namespace: string, name: string, signal?: AbortSignal): Promise<StoredSecret | undefined> {
    try {
      const secret = await this.api.request({ method: 'GET', path: secretPath(namespace, name), signal });
      return this.decode(secret, 'get', namespace, name);
    } catch (err: unknown) {
      if (apiStatus(err) === 404) return undefined;
      throw kubeError('KubernetesApiError', { verb: 'get', resource: RESOURCE, namespace, name }, err);
    }
  }

  async create(secret: SecretObject, signal?: AbortSignal): Promise<StoredSecret> {
    const { namespace } = secret.metadata;
    const written = await this.write('create', secret, signal, () =>
      this.api.request({ method: 'POST', path: secretsPath(namespace), body: toV1Secret(secret), signal }),
    );
    this.remember(written);
    return written;
  }

  async update(secret: SecretObject, signal?: AbortSignal): Promise<StoredSecret> {
    const { namespace, name } = secret.metadata;
    const written = await this.write('update', secret, signal, () =>
      this.api.request({ method: 'PUT', path: secretPath(namespace, name), body: toV1Secret(secret), signal }),
    );
    this.remember(written);
    return written;
  }

  /** Deletes only the object with `uid`: 404 (gone) and 409 (the name now holds another object) are done. */
  async delete(namespace: string, name: string, uid: string, signal?: AbortSignal): Promise<void> {
    try {
      await this.limiter.run(
        () =>
          this.api.request({
            method: 'DELETE',
            path: secretPath(namespace, name),
            body: { apiVersion: 'v1', kind: 'DeleteOptions', preconditions: { uid } },
            signal,
          }),
        signal,
        namespace,
      );
    } catch (err: unknown) {
      const status = apiStatus(err);
      if (status !== 404 && status !== 409) {
        throw kubeError('KubernetesApiError', { verb: 'delete', resource: RESOURCE, namespace, name }, err);
      }
    }
    this.informer.applyLocalDelete(`${namespace}/${name}`, uid);
  }

  private async write(
    verb: string,
    secret: SecretObject,
    signal: AbortSignal | undefined,
    call: () => Promise<unknown>,
  ): Promise<StoredSecret> {
    const { namespace, name } = secret.metadata;
    const key = `${namespace}/${name}`;
    const expected: Expected = {
      type: secret.type,
      immutable: secret.immutable ?? false,
      dataDigest: this.digestData(secret.data),
      labels: secret.metadata.labels ?? {},
      annotations: secret.metadata.annotations ?? {},
    };
    this.writing.set(key, expected);
    let result: unknown;
    try {
      result = await this.limiter.run(call, signal, namespace);
    } catch (err: unknown) {
      throw kubeError('KubernetesApiError', { verb, resource: RESOURCE, namespace, name }, err);
    } finally {
      if (this.writing.get(key) === expected) this.writing.delete(key);
    }
    return this.decode(result, verb, namespace, name);
  }

  /** Whether `secret` (from the watch) shows everything a write of ours in flight sets on it. */
  private isEcho(secret: StoredSecret): boolean {
    const e = this.writing.get(`${secret.metadata.namespace}/${secret.metadata.name}`);
    if (e === undefined) return false;
    const { labels = {}, annotations = {} } = secret.metadata;
    return (
      secret.type === e.type &&
      (secret.immutable ?? false) === e.immutable &&
      secret.dataDigest === e.dataDigest &&
      Object.entries(e.labels).every(([k, v]) => labels[k] === v) &&
      Object.entries(e.annotations).every(([k, v]) => annotations[k] === v)
    );
  }

  private decode(raw: unknown, verb: string, namespace: string, name: string): StoredSecret {
    const secret = toStoredSecret(raw, (data) => this.digestData(data));
    if (secret === undefined) {
      const err = new Error('the response is not a Secret');
      throw kubeError('KubernetesApiError', { verb, resource: RESOURCE, namespace, name }, err);
    }
    return secret;
  }

  /** Only labelled Secrets belong in the cache; the watch drops one that lost its label. */
  private remember(secret: StoredSecret): void {
    if (secret.metadata.labels?.[MANAGED_BY_LABEL] === MANAGED_BY_VALUE) this.informer.applyLocalWrite(secret);
  }
}
