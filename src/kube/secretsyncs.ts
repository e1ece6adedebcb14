import { GROUP, PLURAL, VERSION, validateSecretSync, type SecretSync } from '../api/index.js';
import type { Logger } from '../core/types.js';
import type { SecretSyncLister } from '../controller/types.js';
import type { KubeHttp } from './http.js';
import { Informer } from './informer.js';
import { asRecord } from '../core/json.js';
import type { ListPage, ReflectorTiming, ResourceSource } from './reflector.js';

/** Lists can be large; they get more time than a single-object request. */
export const LIST_TIMEOUT_MS = 120_000;

export function secretSyncSource(api: KubeHttp): ResourceSource {
  const path = (namespace: string | undefined) =>
    namespace === undefined
      ? `/apis/${GROUP}/${VERSION}/${PLURAL}`
      : `/apis/${GROUP}/${VERSION}/namespaces/${encodeURIComponent(namespace)}/${PLURAL}`;
  return {
    resource: `${PLURAL}.${GROUP}`,
    async list(req) {
      const request = {
        path: path(req.namespace),
        query: { labelSelector: req.labelSelector, limit: req.limit, continue: req.continueToken },
        signal: req.signal,
        timeoutMs: LIST_TIMEOUT_MS,
      } as const;
      if (req.onItem === undefined) return rawListPage(await api.request({ method: 'GET', ...request }));
      return rawListPage(await api.list({ method: 'GET', ...request }, req.onItem));
    },
    watchPath: path,
  };
}

/** A list response as JSON (custom resources are not deserialized by client-node). */
export function rawListPage(body: unknown): ListPage {
  const obj = asRecord(body);
  const metadata = asRecord(obj?.metadata);
  const items = obj?.items;
  const resourceVersion = metadata?.resourceVersion;
  if (!Array.isArray(items) || typeof resourceVersion !== 'string') {
    throw new Error('list response has no items or no metadata.resourceVersion');
  }
  const continueToken = metadata?.continue;
  return {
    items: items as unknown[],
    resourceVersion,
    continueToken: typeof continueToken === 'string' && continueToken !== '' ? continueToken : undefined,
  };
}

/**
 * A SecretSync from the API server, with only the metadata the controller reads (memory: the
 * cache holds one compact copy per SecretSync, like a client-go informer transform). A valid one comes back with the
 * schema's defaults applied (objects stored under an older CRD may lack them); an invalid one is
 * kept as it is, not dropped: reconcile reports an invalid spec in status, which a missing object
 * could not. Only objects without a name and namespace are dropped.
 */
export function toSecretSync(raw: unknown): SecretSync | undefined {
  const obj = asRecord(raw);
  const metadata = asRecord(obj?.metadata);
  if (obj === undefined || metadata === undefined) return undefined;
  if (typeof metadata.name !== 'string' || typeof metadata.namespace !== 'string') return undefined;
  const trimmed = { ...obj, metadata: compactMetadata(metadata) };
  const result = validateSecretSync(trimmed);
  return result.ok ? result.value : (trimmed as unknown as SecretSync);
}

/** Metadata the controller reads; the rest (managedFields, kubectl's copy of the spec, ...) is not cached. */
const KEPT_METADATA = [
  'name',
  'namespace',
  'uid',
  'resourceVersion',
  'generation',
  'creationTimestamp',
  'deletionTimestamp',
  'labels',
  'annotations',
  'ownerReferences',
  'finalizers',
] as const;

/** kubectl apply keeps the whole object in this annotation: as large as the spec, and never read here. */
const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';

function compactMetadata(md: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of KEPT_METADATA) if (md[k] !== undefined) out[k] = md[k];
  const annotations = asRecord(md.annotations);
  if (annotations !== undefined && LAST_APPLIED in annotations) {
    const { [LAST_APPLIED]: _applied, ...rest } = annotations;
    out.annotations = rest;
  }
  return out;
}

export interface SecretSyncInformerOptions {
  api: KubeHttp;
  namespaces?: readonly string[] | undefined;
  log: Logger;
  timing?: Partial<ReflectorTiming>;
}

/** The SecretSync cache; `get(key)` makes it the SecretSyncLister reconcile reads from. */
export function createSecretSyncInformer(opts: SecretSyncInformerOptions): Informer<SecretSync> & SecretSyncLister {
  return new Informer<SecretSync>({
    name: PLURAL,
    api: opts.api,
    source: secretSyncSource(opts.api),
    transform: toSecretSync,
    namespaces: opts.namespaces,
    log: opts.log,
    ...(opts.timing === undefined ? {} : { timing: opts.timing }),
  });
}
