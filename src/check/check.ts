/**
 * `vaultsync check`: what the chart's `helm test` hook runs in the controller image. It asks the
 * API server, not the pods, so no NetworkPolicy stands in its way: the SecretSync CRD is
 * Established, the controller Deployment has a ready replica (the kubelet ran its /readyz probe),
 * and, with leader election, a replica holds the Lease and renewed it recently.
 */
import { parseDuration } from '../api/index.js';

export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export interface CheckOptions {
  crd: string;
  deployment?: { namespace: string; name: string } | undefined;
  lease?: { namespace: string; name: string } | undefined;
  /** How long a Lease may go unrenewed and still count as held. */
  leaseDurationMs: number;
  /** Keep trying until every check passes or this much time has passed. */
  timeoutMs: number;
  kubeconfig?: string | undefined;
}

export const CHECK_HELP = `Usage: vaultsync check [--crd <name>] [--deployment <ns/name>] [--lease <ns/name>] [options]

Checks, through the API server, that vaultsync is installed and working; the Helm chart's
\`helm test\` hook runs it. Retries until every check passes or --timeout.

  --crd <name>               CRD that must be Established (default: secretsyncs.vaultsync.io)
  --deployment <ns/name>     Deployment that must have at least one ready replica
  --lease <ns/name>          Leader-election Lease that must be held and recently renewed
  --lease-duration <d>       A Lease renewed longer ago than this is not held (default: 15s)
  --timeout <duration>       Give up after this long (default: 60s)
  --kubeconfig <file>        Kubeconfig (default: in-cluster configuration)
  --help                     This text

Prints one line per check; exits 0 when all pass, 1 when one fails, 2 on a usage error.
`;

const FLAGS = new Set(['crd', 'deployment', 'lease', 'lease-duration', 'timeout', 'kubeconfig']);

function namespaced(flag: string, value: string): { namespace: string; name: string } {
  const [namespace, name, ...rest] = value.split('/');
  if (!namespace || !name || rest.length > 0 || !/^[a-z0-9-]+$/.test(namespace) || !/^[a-z0-9.-]+$/.test(name)) {
    throw new UsageError(`--${flag} must be <namespace>/<name>, got "${value}"`);
  }
  return { namespace, name };
}

/** Throws UsageError with a one-line message. */
export function parseCheckArgs(argv: readonly string[]): CheckOptions {
  const values = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    if (!arg.startsWith('--')) throw new UsageError(`unexpected argument "${arg}"`);
    const eq = arg.indexOf('=');
    const name = arg.slice(2, eq === -1 ? undefined : eq);
    if (!FLAGS.has(name)) throw new UsageError(`unknown flag --${name}`);
    const value = eq === -1 ? argv[++i] : arg.slice(eq + 1);
    if (value === undefined || value === '') throw new UsageError(`flag --${name} needs a value`);
    if (values.has(name)) throw new UsageError(`flag --${name} given twice`);
    values.set(name, value);
  }
  const duration = (flag: string, fallback: string): number => {
    try {
      return parseDuration(values.get(flag) ?? fallback);
    } catch {
      throw new UsageError(`--${flag} must be a duration like 30s or 2m, got "${values.get(flag) ?? ''}"`);
    }
  };
  const deployment = values.get('deployment');
  const lease = values.get('lease');
  return {
    crd: values.get('crd') ?? 'secretsyncs.vaultsync.io',
    deployment: deployment === undefined ? undefined : namespaced('deployment', deployment),
    lease: lease === undefined ? undefined : namespaced('lease', lease),
    leaseDurationMs: duration('lease-duration', '15s'),
    timeoutMs: duration('timeout', '60s'),
    kubeconfig: values.get('kubeconfig'),
  };
}

/** What the checks read; the CLI backs it with the API server, unit tests with plain objects. */
export interface CheckReader {
  crdConditions(name: string): Promise<{ type: string; status: string }[]>;
  deploymentReplicas(namespace: string, name: string): Promise<{ desired: number; ready: number }>;
  lease(namespace: string, name: string): Promise<{ holder?: string | undefined; renewTime?: Date | undefined }>;
}

export interface CheckResult {
  ok: boolean;
  line: string;
}

/** One pass over every check; a read that throws fails its check with the error's message. */
export async function checkOnce(opts: CheckOptions, reader: CheckReader, now: Date): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  const attempt = async (what: string, fn: () => Promise<CheckResult>) => {
    try {
      results.push(await fn());
    } catch (err) {
      results.push({ ok: false, line: `${what}: ${err instanceof Error ? err.message : 'failed'}` });
    }
  };
  await attempt(`CRD ${opts.crd}`, async () => {
    const established = (await reader.crdConditions(opts.crd)).some(
      (c) => c.type === 'Established' && c.status === 'True',
    );
    return { ok: established, line: `CRD ${opts.crd}: ${established ? 'established' : 'not established'}` };
  });
  const { deployment, lease } = opts;
  if (deployment) {
    const what = `Deployment ${deployment.namespace}/${deployment.name}`;
    await attempt(what, async () => {
      const r = await reader.deploymentReplicas(deployment.namespace, deployment.name);
      return { ok: r.ready >= 1, line: `${what}: ${r.ready} of ${r.desired} replicas ready` };
    });
  }
  if (lease) {
    const what = `Lease ${lease.namespace}/${lease.name}`;
    await attempt(what, async () => {
      const l = await reader.lease(lease.namespace, lease.name);
      if (l.holder === undefined || l.holder === '') return { ok: false, line: `${what}: no leader` };
      const age = l.renewTime === undefined ? Infinity : now.getTime() - l.renewTime.getTime();
      const fresh = age <= opts.leaseDurationMs;
      const ago = Number.isFinite(age) ? `${Math.round(age / 1000)}s ago` : 'never';
      return { ok: fresh, line: `${what}: held by ${l.holder}, renewed ${ago}${fresh ? '' : ' (stale)'}` };
    });
  }
  return results;
}

/** Repeats checkOnce until all pass or the timeout; returns the last pass. */
export async function check(
  opts: CheckOptions,
  reader: CheckReader,
  clock: { now(): Date; sleep(ms: number): Promise<void> } = {
    now: () => new Date(),
    sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
  },
  intervalMs = 2_000,
): Promise<CheckResult[]> {
  const deadline = clock.now().getTime() + opts.timeoutMs;
  for (;;) {
    const results = await checkOnce(opts, reader, clock.now());
    if (results.every((r) => r.ok) || clock.now().getTime() + intervalMs > deadline) return results;
    await clock.sleep(intervalMs);
  }
}
