import type { Logger } from '../core/types.js';
import { KubeJsonClient } from './http.js';
import { loadInCluster, loadKubeconfig, type RestConfig } from './kubeconfig.js';
import { leaseClient, type LeaseClient } from './lease-client.js';

/** The API server's configuration and the clients built on it; created once in main.ts. */
export interface Kube {
  config: RestConfig;
  /** Plain JSON over keep-alive HTTP: every API call of the controller (see http.ts). */
  http: KubeJsonClient;
  /** The Lease calls leader election makes, over `http`. */
  coordination: LeaseClient;
}

export interface CreateKubeOptions {
  /** Path of a kubeconfig; absent: in-cluster configuration. */
  kubeconfig?: string | undefined;
  /** Context of the kubeconfig to use; absent: its current context. */
  context?: string | undefined;
  /** A file holding a bearer token that replaces the user's credentials (re-read as it rotates). */
  tokenFile?: string | undefined;
  /**
   * Where KUBERNETES_SERVICE_HOST/PORT come from for the in-cluster configuration. The kubelet's
   * contract with every pod, read here as client-go does; tests pass their own.
   */
  env?: Readonly<Record<string, string | undefined>>;
  log: Logger;
}

export function createKube(opts: CreateKubeOptions): Kube {
  let config =
    opts.kubeconfig === undefined
      ? loadInCluster(opts.env ?? process.env)
      : loadKubeconfig(opts.kubeconfig, opts.context);
  if (opts.tokenFile !== undefined) config = config.withTokenFile(opts.tokenFile);
  opts.log.info(
    {
      server: config.server,
      context: config.context,
      source: opts.kubeconfig ?? 'in-cluster',
      tokenFile: config.tokenFile,
    },
    'kubernetes client configured',
  );
  return kubeClients(config);
}

/** The clients for an already loaded configuration (tests build one with RestConfig.fromServer). */
export function kubeClients(config: RestConfig): Kube {
  const http = new KubeJsonClient(config);
  return { config, http, coordination: leaseClient(http) };
}
