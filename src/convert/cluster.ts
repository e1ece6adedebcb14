/** `vaultsync convert --from-cluster`: ESO objects listed through the project's kube client. */
import type { Logger } from '../core/types.js';
import { createKube } from '../kube/client.js';
import type { KubeHttp } from '../kube/http.js';
import { apiErrorDetail, apiStatus } from '../kube/request.js';
import { ESO_GROUP, InputError, collect, type ParsedInput } from './manifests.js';
import type { ConvertCliOptions } from './options.js';

const silent: Logger = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {}, child: () => silent };

const KINDS = [
  { plural: 'externalsecrets', kind: 'ExternalSecret', namespaced: true },
  { plural: 'secretstores', kind: 'SecretStore', namespaced: true },
  { plural: 'clustersecretstores', kind: 'ClusterSecretStore', namespaced: false },
] as const;

/** Lists ExternalSecrets and stores (v1, else v1beta1); a kind the cluster does not serve is skipped. */
export async function listFromCluster(opts: ConvertCliOptions): Promise<ParsedInput> {
  let kube;
  try {
    kube = createKube({ kubeconfig: opts.kubeconfig, context: opts.context, log: silent });
  } catch (err) {
    throw new InputError(`cannot load the kubeconfig: ${err instanceof Error ? err.message : 'failed'}`);
  }
  const out: ParsedInput = { manifests: [], skipped: [] };
  for (const { plural, kind, namespaced } of KINDS) {
    const items = await list(kube.http, plural, namespaced ? opts.namespace : undefined);
    if (items === undefined) {
      if (kind === 'ExternalSecret')
        throw new InputError(`the cluster serves no ${ESO_GROUP} ExternalSecrets (v1 or v1beta1)`);
      continue;
    }
    items.value.forEach((item, i) => {
      const obj = { apiVersion: `${ESO_GROUP}/${items.version}`, kind, ...(item as object) };
      collect(obj, `cluster ${plural}[${i}]`, out);
    });
  }
  return out;
}

async function list(
  api: KubeHttp,
  plural: string,
  namespace: string | undefined,
): Promise<{ version: string; value: unknown[] } | undefined> {
  for (const version of ['v1', 'v1beta1']) {
    try {
      const scope = namespace === undefined ? '' : `/namespaces/${encodeURIComponent(namespace)}`;
      const res = await api.request({ method: 'GET', path: `/apis/${ESO_GROUP}/${version}${scope}/${plural}` });
      const items = (res as { items?: unknown }).items;
      return { version, value: Array.isArray(items) ? items : [] };
    } catch (err) {
      const status = apiStatus(err);
      if (status === 404) continue;
      const code = status === undefined ? '' : ` (HTTP ${status})`;
      throw new InputError(`cannot list ${plural}.${ESO_GROUP}/${version}${code}: ${apiErrorDetail(err)}`);
    }
  }
  return undefined;
}
