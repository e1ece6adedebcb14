/** The `vaultsync check` command (the chart's helm test hook): see check.ts. */
import { ApiextensionsV1Api, AppsV1Api, CoordinationV1Api, KubeConfig } from '@kubernetes/client-node';
import { apiErrorDetail, callOptions } from '../kube/request.js';
import { check, CHECK_HELP, parseCheckArgs, UsageError, type CheckReader } from './check.js';

export { check, checkOnce, parseCheckArgs, CHECK_HELP, UsageError } from './check.js';
export type { CheckOptions, CheckReader, CheckResult } from './check.js';

export interface CheckIo {
  stdout: (s: string) => void;
  stderr: (s: string) => void;
}

function apiReader(kubeconfig: string | undefined): CheckReader {
  const kc = new KubeConfig();
  if (kubeconfig === undefined) kc.loadFromCluster();
  else kc.loadFromFile(kubeconfig);
  const ext = kc.makeApiClient(ApiextensionsV1Api);
  const apps = kc.makeApiClient(AppsV1Api);
  const coordination = kc.makeApiClient(CoordinationV1Api);
  // Every read bounded (client-node has no timeout of its own), failures as the API's own message.
  const read = async <T>(fn: () => Promise<T>): Promise<T> => {
    try {
      return await fn();
    } catch (err) {
      throw new Error(apiErrorDetail(err), { cause: err });
    }
  };
  const opts = () => callOptions({ timeoutMs: 10_000 });
  return {
    crdConditions: (name) =>
      read(async () => (await ext.readCustomResourceDefinition({ name }, opts())).status?.conditions ?? []),
    deploymentReplicas: (namespace, name) =>
      read(async () => {
        const d = await apps.readNamespacedDeployment({ namespace, name }, opts());
        return { desired: d.spec?.replicas ?? 1, ready: d.status?.readyReplicas ?? 0 };
      }),
    lease: (namespace, name) =>
      read(async () => {
        const l = await coordination.readNamespacedLease({ namespace, name }, opts());
        // MicroTime: client-node may hand over a Date or the RFC 3339 string.
        const renew: unknown = l.spec?.renewTime;
        const renewTime = renew instanceof Date || typeof renew === 'string' ? new Date(renew) : undefined;
        return { holder: l.spec?.holderIdentity, renewTime };
      }),
  };
}

export async function runCheck(argv: readonly string[], io: CheckIo): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    io.stdout(CHECK_HELP);
    return 0;
  }
  let opts;
  try {
    opts = parseCheckArgs(argv);
  } catch (err) {
    if (err instanceof UsageError) {
      io.stderr(`vaultsync check: ${err.message} (see vaultsync check --help)\n`);
      return 2;
    }
    throw err;
  }
  const results = await check(opts, apiReader(opts.kubeconfig));
  for (const r of results) (r.ok ? io.stdout : io.stderr)(`${r.ok ? 'ok' : 'FAIL'}: ${r.line}\n`);
  return results.every((r) => r.ok) ? 0 : 1;
}
