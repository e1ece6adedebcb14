import { GROUP, PLURAL, VERSION, type SecretSync, type SecretSyncStatus } from '../api/index.js';
import type { StatusWriter } from '../controller/types.js';
import type { KubeHttp } from './http.js';
import type { WriteLimiter } from './limiter.js';
import { apiStatus, kubeError } from './request.js';
import { toSecretSync } from './secretsyncs.js';

export interface StatusWriterDeps {
  api: KubeHttp;
  limiter: WriteLimiter;
  /** Receives the patched object, so a reconcile right after sees its own status (the SecretSync informer). */
  cache?: { applyLocalWrite(obj: SecretSync): void };
}

/** Write-budget priority of background status writes: every Secret write waiting goes first. */
const BACKGROUND = -1;

/** Writes SecretSync status with a JSON merge patch on the status subresource. */
export class KubeStatusWriter implements StatusWriter {
  constructor(private readonly deps: StatusWriterDeps) {}

  async patchStatus(
    sync: SecretSync,
    status: SecretSyncStatus,
    signal?: AbortSignal,
    options: { background?: boolean } = {},
  ): Promise<void> {
    const { namespace, name } = sync.metadata;
    const body = { status: statusMergePatch(sync.status, status) };
    let patched: unknown;
    try {
      patched = await this.deps.limiter.run(
        () =>
          this.deps.api.request({
            method: 'PATCH',
            path: `/apis/${GROUP}/${VERSION}/namespaces/${encodeURIComponent(namespace)}/${PLURAL}/${encodeURIComponent(name)}/status`,
            body,
            contentType: 'application/merge-patch+json',
            signal,
          }),
        signal,
        namespace,
        options.background === true ? BACKGROUND : 0,
      );
    } catch (err: unknown) {
      // The SecretSync was deleted meanwhile: there is no status left to write.
      if (apiStatus(err) === 404) return;
      throw kubeError('KubernetesApiError', { verb: 'patch status of', resource: 'SecretSync', namespace, name }, err);
    }
    const obj = toSecretSync(patched);
    if (obj !== undefined) this.deps.cache?.applyLocalWrite(obj);
  }
}

/**
 * The merge patch that turns `current` into `desired`: every desired field, and null for a
 * field that is set now but absent from `desired` (a merge patch otherwise keeps it).
 * Lists (conditions) are replaced whole by merge patch, so they are sent whole.
 */
export function statusMergePatch(
  current: SecretSyncStatus | undefined,
  desired: SecretSyncStatus,
): Record<string, unknown> {
  const patch: Record<string, unknown> = { ...desired };
  for (const key of Object.keys(current ?? {})) {
    if (!(key in desired) || (desired as Record<string, unknown>)[key] === undefined) patch[key] = null;
  }
  return patch;
}
