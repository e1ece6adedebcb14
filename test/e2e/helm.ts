/**
 * Running helm and kubectl against the test environment, for the chart's end-to-end tests
 * (chart.test.ts, chart-upgrade.test.ts): each gets a helm home of its own under the
 * environment's directory and the admin kubeconfig.
 */
import { spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { must } from '../env/http.js';
import { REPO, type TestEnv } from '../env/testenv.js';

export const CHART = join(REPO, 'charts', 'vaultsync');

export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface K8sObject {
  kind: string;
  metadata: { name: string; namespace?: string };
  rules?: { apiGroups: string[]; resources: string[]; verbs: string[]; resourceNames?: string[] }[];
  spec?: { template?: { spec: { containers: { args: string[] }[] } } };
}

export interface Tools {
  run(cmd: string, args: string[], input?: string): Promise<Run>;
  helm(...args: string[]): Promise<Run>;
  /** kubectl with the admin kubeconfig. */
  kubectl(args: string[], input?: string): Promise<Run>;
}

export function tools(env: TestEnv): Tools {
  const home = join(env.dir, 'helm');
  mkdirSync(home, { recursive: true });
  const toolEnv: NodeJS.ProcessEnv = {
    PATH: process.env.PATH ?? '',
    HOME: home,
    HELM_CACHE_HOME: join(home, 'cache'),
    HELM_CONFIG_HOME: join(home, 'config'),
    HELM_DATA_HOME: join(home, 'data'),
    KUBECONFIG: env.adminKubeconfig,
  };
  const run = (cmd: string, args: string[], input?: string): Promise<Run> =>
    new Promise((resolve, reject) => {
      const child = spawn(cmd, args, { env: toolEnv, stdio: ['pipe', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
      child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
      child.on('error', reject);
      child.on('close', (code) => resolve({ code, stdout, stderr }));
      child.stdin.end(input ?? '');
    });
  return {
    run,
    helm: (...args) => run(env.bins.helm, args),
    kubectl: (args, input) => run(env.bins.kubectl, ['--kubeconfig', env.adminKubeconfig, ...args], input),
  };
}

/** `--set-json` for each value: exact types, no helm string coercion. */
export const setJson = (values: Record<string, unknown>): string[] =>
  Object.entries(values).flatMap(([k, v]) => ['--set-json', `${k}=${JSON.stringify(v)}`]);

export function objects(yamlText: string): K8sObject[] {
  return parseAllDocuments(yamlText)
    .map((d) => d.toJS() as K8sObject | null)
    .filter((o): o is K8sObject => o !== null);
}

/** The controller container's arguments after `run`, as the chart renders them. */
export function controllerArgs(objs: K8sObject[]): string[] {
  const args = objs.find((o) => o.kind === 'Deployment')?.spec?.template?.spec.containers[0]?.args ?? [];
  if (args[0] !== 'run') throw new Error(`the Deployment's first argument is ${args[0] ?? 'missing'}, not run`);
  return args.slice(1);
}

/** What only makes sense in the pod (its ports, its projected token) left out, for a local controller process. */
export const localArgs = (args: string[]): string[] =>
  args.filter(
    (a) => !a.startsWith('--listen=') && !a.startsWith('--webhook-listen=') && !a.startsWith('--token-path='),
  );

/**
 * Stands in for kube-controller-manager's ClusterRole aggregation controller, which this environment
 * does not run: each ClusterRole with an aggregationRule (the API server's own edit, admin, view)
 * gets the rules of every ClusterRole its selectors match, repeated because view aggregates into
 * edit and edit into admin. The selectors are the API server's bootstrap ones, read back from it.
 */
export async function aggregateClusterRoles(env: TestEnv): Promise<void> {
  interface ClusterRole {
    metadata: { name: string; labels?: Record<string, string> };
    aggregationRule?: { clusterRoleSelectors?: { matchLabels?: Record<string, string> }[] };
    rules?: unknown[];
  }
  const path = '/apis/rbac.authorization.k8s.io/v1/clusterroles';
  for (let round = 0; round < 3; round++) {
    const roles = (await must<{ items: ClusterRole[] }>(env.kube, 'GET', path)).body.items;
    for (const role of roles.filter((r) => r.aggregationRule)) {
      const matches = (r: ClusterRole) =>
        r.metadata.name !== role.metadata.name &&
        (role.aggregationRule?.clusterRoleSelectors ?? []).some((sel) =>
          Object.entries(sel.matchLabels ?? {}).every(([k, v]) => r.metadata.labels?.[k] === v),
        );
      const rules = roles.filter(matches).flatMap((r) => r.rules ?? []);
      await must(env.kube, 'PUT', `${path}/${role.metadata.name}`, { ...role, rules });
    }
  }
}
