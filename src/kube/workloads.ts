import type { WorkloadPatcher, WorkloadRef } from '../controller/types.js';
import type { KubeHttp } from './http.js';
import type { WriteLimiter } from './limiter.js';
import { apiStatus, kubeError } from './request.js';

export interface KubeWorkloadPatcherDeps {
  api: KubeHttp;
  /** Restarts are API writes: they share the global and per-namespace write budgets. */
  limiter: WriteLimiter;
}

const RESOURCE: Record<WorkloadRef['kind'], string> = {
  Deployment: 'deployments',
  StatefulSet: 'statefulsets',
  DaemonSet: 'daemonsets',
};

/**
 * Rollout restarts through the `patch` verb alone (no get): a JSON merge patch of the pod
 * template's annotations, as `kubectl rollout restart` does with kubectl.kubernetes.io/restartedAt.
 */
export class KubeWorkloadPatcher implements WorkloadPatcher {
  constructor(private readonly deps: KubeWorkloadPatcherDeps) {}

  async patchTemplateAnnotations(
    ref: WorkloadRef,
    annotations: Record<string, string>,
    signal?: AbortSignal,
  ): Promise<'patched' | 'missing'> {
    const { namespace, name } = ref;
    try {
      await this.deps.limiter.run(
        () =>
          this.deps.api.request({
            method: 'PATCH',
            path: `/apis/apps/v1/namespaces/${encodeURIComponent(namespace)}/${RESOURCE[ref.kind]}/${encodeURIComponent(name)}`,
            body: { spec: { template: { metadata: { annotations } } } },
            contentType: 'application/merge-patch+json',
            signal,
          }),
        signal,
        namespace,
      );
      return 'patched';
    } catch (err) {
      if (apiStatus(err) === 404) return 'missing';
      throw kubeError('KubernetesApiError', { verb: 'patch', resource: ref.kind, namespace, name }, err);
    }
  }
}
