/** Test-side helpers over the real apiserver: SecretSyncs, Secrets, conditions. */
import { call, must, waitFor } from '../env/http.js';
import type { TestEnv } from '../env/testenv.js';

export interface Condition {
  type: string;
  status: string;
  reason: string;
  message: string;
}

export interface SecretSyncObject {
  metadata: { name: string; namespace: string; uid: string; generation: number; resourceVersion: string };
  spec: Record<string, unknown>;
  status?: {
    conditions?: Condition[];
    observedGeneration?: number;
    secretName?: string;
    vaultVersion?: number;
    sourceVersions?: number[];
    lastSyncTime?: string;
    lastForceSync?: string;
  };
}

export interface SecretObject {
  metadata: {
    name: string;
    namespace: string;
    uid: string;
    resourceVersion: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    ownerReferences?: { kind: string; name: string; uid: string }[];
  };
  type: string;
  data?: Record<string, string>;
  immutable?: boolean;
}

const ssPath = (ns: string, name = '') =>
  `/apis/vaultsync.io/v1alpha1/namespaces/${ns}/secretsyncs${name ? `/${name}` : ''}`;
const secretPath = (ns: string, name = '') => `/api/v1/namespaces/${ns}/secrets${name ? `/${name}` : ''}`;

export function secretSync(namespace: string, name: string, spec: Record<string, unknown>) {
  return { apiVersion: 'vaultsync.io/v1alpha1', kind: 'SecretSync', metadata: { name, namespace }, spec };
}

export async function createSecretSync(env: TestEnv, obj: ReturnType<typeof secretSync>): Promise<SecretSyncObject> {
  return (await must<SecretSyncObject>(env.kube, 'POST', ssPath(obj.metadata.namespace), obj)).body;
}

/** Creates and returns the apiserver's answer without throwing, for admission tests. */
export async function tryCreateSecretSync(env: TestEnv, obj: unknown, namespace: string) {
  return call<{ message?: string }>(env.kube, 'POST', ssPath(namespace), obj);
}

export async function patchSecretSync(env: TestEnv, ns: string, name: string, patch: unknown): Promise<void> {
  await must(env.kube, 'PATCH', ssPath(ns, name), patch, [], { 'content-type': 'application/merge-patch+json' });
}

export async function deleteSecretSync(env: TestEnv, ns: string, name: string): Promise<void> {
  await must(env.kube, 'DELETE', ssPath(ns, name), undefined, [404]);
}

export async function getSecretSync(env: TestEnv, ns: string, name: string): Promise<SecretSyncObject | undefined> {
  const r = await call<SecretSyncObject>(env.kube, 'GET', ssPath(ns, name));
  return r.status === 200 ? r.body : undefined;
}

export async function getSecret(env: TestEnv, ns: string, name: string): Promise<SecretObject | undefined> {
  const r = await call<SecretObject>(env.kube, 'GET', secretPath(ns, name));
  if (r.status === 404) return undefined;
  if (r.status !== 200) throw new Error(`GET secret ${ns}/${name}: HTTP ${r.status}`);
  return r.body;
}

export async function putSecret(env: TestEnv, secret: SecretObject): Promise<SecretObject> {
  const { namespace, name } = secret.metadata;
  return (await must<SecretObject>(env.kube, 'PUT', secretPath(namespace, name), secret)).body;
}

export async function createSecret(
  env: TestEnv,
  ns: string,
  name: string,
  data: Record<string, string>,
): Promise<void> {
  await must(env.kube, 'POST', secretPath(ns), { metadata: { name }, stringData: data });
}

export async function deleteSecret(env: TestEnv, ns: string, name: string): Promise<void> {
  await must(env.kube, 'DELETE', secretPath(ns, name), undefined, [404]);
}

export const decode = (data: Record<string, string> | undefined): Record<string, string> =>
  Object.fromEntries(Object.entries(data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]));

export function readyOf(obj: SecretSyncObject | undefined): Condition | undefined {
  return obj?.status?.conditions?.find((c) => c.type === 'Ready');
}

/** Waits until Ready has `status` (and `reason`, if given) for the current generation. */
export async function waitReady(
  env: TestEnv,
  ns: string,
  name: string,
  status: 'True' | 'False',
  reason?: string,
  timeoutMs = 30_000,
): Promise<SecretSyncObject> {
  let last: SecretSyncObject | undefined;
  try {
    return await waitFor(
      `SecretSync ${ns}/${name} Ready=${status}${reason ? ` (${reason})` : ''}`,
      async () => {
        last = await getSecretSync(env, ns, name);
        const c = readyOf(last);
        const current = last?.status?.observedGeneration === last?.metadata.generation;
        return c?.status === status && (!reason || c.reason === reason) && current ? last : undefined;
      },
      timeoutMs,
      100,
    );
  } catch (err) {
    throw new Error(`${(err as Error).message}; last status: ${JSON.stringify(last?.status)}`);
  }
}

export async function waitSecret(
  env: TestEnv,
  ns: string,
  name: string,
  pred: (s: SecretObject) => boolean,
  timeoutMs = 30_000,
): Promise<SecretObject> {
  return waitFor(
    `Secret ${ns}/${name}`,
    async () => {
      const s = await getSecret(env, ns, name);
      return s && pred(s) ? s : undefined;
    },
    timeoutMs,
  );
}

export async function waitGone(env: TestEnv, ns: string, name: string, timeoutMs = 30_000): Promise<void> {
  await waitFor(`Secret ${ns}/${name} deleted`, async () => (await getSecret(env, ns, name)) === undefined, timeoutMs);
}

/** Events recorded on an object (core/v1 and events.k8s.io/v1 are the same store). */
export async function eventsFor(
  env: TestEnv,
  ns: string,
  name: string,
): Promise<{ reason: string; type: string; message: string }[]> {
  const r = await must<{
    items: {
      reason: string;
      type: string;
      message?: string;
      note?: string;
      involvedObject?: { name: string };
      regarding?: { name: string };
    }[];
  }>(env.kube, 'GET', `/api/v1/namespaces/${ns}/events`);
  return r.body.items
    .filter((e) => !name || (e.involvedObject?.name ?? e.regarding?.name) === name)
    .map((e) => ({ reason: e.reason, type: e.type, message: e.message ?? e.note ?? '' }));
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface DeploymentObject {
  metadata: { name: string; namespace: string; generation: number; resourceVersion: string };
  spec: { template: { metadata?: { annotations?: Record<string, string> } } };
}

const deploymentPath = (ns: string, name = '') => `/apis/apps/v1/namespaces/${ns}/deployments${name ? `/${name}` : ''}`;

/** A Deployment the API server accepts; nothing runs its pods here (no controller-manager, no kubelet). */
export async function createDeployment(env: TestEnv, ns: string, name: string): Promise<DeploymentObject> {
  const labels = { app: name };
  const body = {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name },
    spec: {
      replicas: 1,
      selector: { matchLabels: labels },
      template: {
        metadata: { labels },
        spec: { containers: [{ name: 'app', image: 'registry.example/app:1', envFrom: [] }] },
      },
    },
  };
  return (await must<DeploymentObject>(env.kube, 'POST', deploymentPath(ns), body)).body;
}

export async function getDeployment(env: TestEnv, ns: string, name: string): Promise<DeploymentObject> {
  return (await must<DeploymentObject>(env.kube, 'GET', deploymentPath(ns, name))).body;
}

/** Sets (or replaces) an annotation of a SecretSync, as `kubectl annotate --overwrite` does. */
export async function annotateSecretSync(env: TestEnv, ns: string, name: string, key: string, value: string) {
  await patchSecretSync(env, ns, name, { metadata: { annotations: { [key]: value } } });
}
