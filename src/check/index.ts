/** The `vaultsync check` command (the chart's helm test hook): see check.ts. */
import { asRecord } from '../core/json.js';
import type { Logger } from '../core/types.js';
import { createKube } from '../kube/client.js';
import { apiErrorDetail } from '../kube/request.js';
import { check, CHECK_HELP, parseCheckArgs, UsageError, type CheckReader } from './check.js';

export { check, checkOnce, parseCheckArgs, CHECK_HELP, UsageError } from './check.js';
export type { CheckOptions, CheckReader, CheckResult } from './check.js';

export interface CheckIo {
  stdout: (s: string) => void;
  stderr: (s: string) => void;
}

const silent: Logger = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {}, child: () => silent };

function apiReader(kubeconfig: string | undefined): CheckReader {
  const { http, coordination } = createKube({ kubeconfig, log: silent });
  const timeoutMs = 10_000;
  // Every read bounded, failures as the API's own message.
  const get = async (path: string): Promise<Record<string, unknown> | undefined> => {
    try {
      return asRecord(await http.request({ method: 'GET', path, timeoutMs }));
    } catch (err) {
      throw new Error(apiErrorDetail(err), { cause: err });
    }
  };
  const num = (v: unknown, fallback: number) => (typeof v === 'number' ? v : fallback);
  return {
    crdConditions: async (name) => {
      const crd = await get(`/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${encodeURIComponent(name)}`);
      const conditions = asRecord(crd?.status)?.conditions;
      return (Array.isArray(conditions) ? conditions : []).map((c) => {
        const r = asRecord(c);
        return {
          type: typeof r?.type === 'string' ? r.type : '',
          status: typeof r?.status === 'string' ? r.status : '',
        };
      });
    },
    deploymentReplicas: async (namespace, name) => {
      const d = await get(
        `/apis/apps/v1/namespaces/${encodeURIComponent(namespace)}/deployments/${encodeURIComponent(name)}`,
      );
      return { desired: num(asRecord(d?.spec)?.replicas, 1), ready: num(asRecord(d?.status)?.readyReplicas, 0) };
    },
    lease: async (namespace, name) => {
      let l;
      try {
        l = await coordination.readNamespacedLease({ namespace, name }, { timeoutMs });
      } catch (err) {
        throw new Error(apiErrorDetail(err), { cause: err });
      }
      const renew = l.spec?.renewTime;
      return { holder: l.spec?.holderIdentity, renewTime: typeof renew === 'string' ? new Date(renew) : undefined };
    },
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
