/**
 * The product on a real node (test/cluster/node.ts): the image built from the Dockerfile by
 * test/cluster/prepare.sh, loaded into the node's containerd; the chart installed with `helm install`
 * and two replicas; then, with real pods: both Ready (probes through the kubelet), one leader (the
 * Lease); a SecretSync synced by the leader pod, which calls the apiserver with its projected
 * ServiceAccount token and logs into OpenBao with a TokenRequest token of the team's ServiceAccount;
 * a consumer Deployment printing the Secret's value through `envFrom` (`kubectl logs`); a Vault
 * change pushed by a signed `vaultsync trigger` through the chart's ClusterIP Service (kube-proxy);
 * the rollout restart that change causes (spec.rolloutRestartTargets) replacing the consumer's pod
 * with a new one that prints the new value; and deleting the leader pod hands the Lease to the other
 * replica, which then syncs.
 *
 * Runs with `npm run test:cluster` (as root, on a machine where test/cluster/prepare.sh succeeds);
 * not part of `npm test`. docs/cluster-testing.md.
 */
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../env/http.js';
import { REPO } from '../env/testenv.js';
import { createSecretSync, decode, eventsFor, getSecret, secretSync, waitReady, waitSecret } from '../e2e/helpers.js';
import { BASE_IMAGE, Cluster, IMAGE } from './node.js';

const execFileP = promisify(execFile);

const NS = 'vaultsync';
const TEAM = 'team-a';
const CANARY = 'canary-cluster-5d8e1a93';
const ROTATED = 'canary-cluster-rotated-7b20';
const HANDOVER = 'canary-cluster-handover-3c4f';
const WEBHOOK_KEY = 'cluster-webhook-key-6f0c2b8d41e9a7';
const LEASE = 'vaultsync-leader';

let cluster: Cluster;
let failed = false;

function track<T>(fn: () => Promise<T>): () => Promise<T> {
  return async () => {
    try {
      return await fn();
    } catch (err) {
      failed = true;
      throw err;
    }
  };
}

interface Pod {
  metadata: {
    name: string;
    uid: string;
    creationTimestamp: string;
    deletionTimestamp?: string;
    labels?: Record<string, string>;
  };
  status?: {
    podIP?: string;
    phase?: string;
    conditions?: { type: string; status: string; lastTransitionTime?: string }[];
    containerStatuses?: { restartCount: number }[];
  };
}

/** The consumer Deployment's pods, terminating ones included. */
async function consumerPods(): Promise<Pod[]> {
  const out = await cluster.kubectl(['get', 'pods', '-n', TEAM, '-l', 'app=consumer', '-o', 'json']);
  return (JSON.parse(out) as { items: Pod[] }).items;
}

/** The `DB_PASS=` line a consumer pod printed at start (its envFrom value), or undefined. */
async function printed(pod: string): Promise<string | undefined> {
  const out = await cluster.kubectl(['logs', '-n', TEAM, pod], { allowFail: true });
  return out.split('\n').find((l) => l.startsWith('DB_PASS='));
}

async function controllerPods(): Promise<Pod[]> {
  const out = await cluster.kubectl(['get', 'pods', '-n', NS, '-l', 'app.kubernetes.io/name=vaultsync', '-o', 'json']);
  return (JSON.parse(out) as { items: Pod[] }).items.filter((p) => !p.metadata.deletionTimestamp);
}

const ready = (p: Pod) => p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;

async function leaseHolder(): Promise<string | undefined> {
  const out = await cluster.kubectl(['get', 'lease', LEASE, '-n', NS, '-o', 'json'], { allowFail: true });
  if (!out) return undefined;
  return (JSON.parse(out) as { spec?: { holderIdentity?: string } }).spec?.holderIdentity;
}

/** `vaultsync trigger` for secret/app/config, through the chart's Service's ClusterIP. */
async function trigger(): Promise<string> {
  const svc = JSON.parse(await cluster.kubectl(['get', 'service', 'vaultsync', '-n', NS, '-o', 'json'])) as {
    spec: { clusterIP: string; ports: { name: string; port: number }[] };
  };
  const port = svc.spec.ports.find((p) => p.name === 'webhook')?.port;
  expect(svc.spec.clusterIP).toMatch(/^10\.96\.0\.\d+$/);
  expect(port).toBeDefined();
  const keyFile = join(cluster.dir, 'webhook.key');
  writeFileSync(keyFile, `${WEBHOOK_KEY}\n`, { mode: 0o600 });
  // kube-proxy picks a replica per connection, at random; a standby forwards to the leader (or
  // answers 503 during a hand-over). One CLI run keeps its connection for its own retries
  // (keep-alive): each attempt here is a new run, hence a new connection and a new pick.
  let last = '';
  for (let attempt = 1; attempt <= 20; attempt++) {
    try {
      const { stdout } = await execFileP(process.execPath, [
        join(REPO, 'bin', 'vaultsync.js'),
        'trigger',
        `--url=http://${svc.spec.clusterIP}:${port}`,
        `--key-file=${keyFile}`,
        '--path=secret/app/config',
        '--retries=0',
      ]);
      process.stderr.write(`[cluster] trigger reached the leader at attempt ${attempt}\n`);
      return stdout;
    } catch (err) {
      last = (err as { stderr?: string }).stderr ?? String(err);
      if (!last.includes('503')) throw err;
    }
  }
  throw new Error(`20 triggers through the Service never reached the leader: ${last}`);
}

/** The pod whose name the Lease's holder identity carries (`<pod name>_<random suffix>`). */
const holderPod = (pods: Pod[], holder: string | undefined) =>
  pods.find((p) => holder === p.metadata.name || holder?.startsWith(`${p.metadata.name}_`))?.metadata.name;

async function twoReadyPodsAndLeader(): Promise<{ pods: Pod[]; leader: string }> {
  return waitFor(
    'two Ready controller pods, one holding the Lease',
    async () => {
      const pods = (await controllerPods()).filter(ready);
      const leader = holderPod(pods, await leaseHolder());
      if (pods.length !== 2 || !leader) return undefined;
      return { pods, leader };
    },
    240_000,
    1000,
  );
}

beforeAll(async () => {
  try {
    cluster = await Cluster.start({ log: (l) => process.stderr.write(`[cluster] ${l}\n`) });
    const env = cluster.env;
    // Vault: the team's ServiceAccount may read secret/app/*.
    await env.policy('app-read', 'path "secret/data/app/*" { capabilities = ["read"] }');
    await env.role('app-read', { serviceAccounts: ['app'], namespaces: [TEAM], policies: ['app-read'] });
    await env.writeKv('app/config', { DB_PASS: CANARY });
    for (const ns of [NS, TEAM]) await cluster.kubectl(['create', 'namespace', ns]);
    await cluster.kubectl(['create', 'serviceaccount', 'app', '-n', TEAM]);
    await cluster.kubectl([
      'create',
      'secret',
      'generic',
      'vaultsync-webhook',
      '-n',
      NS,
      `--from-literal=key=${WEBHOOK_KEY}`,
    ]);
    const t0 = Date.now();
    const [repository, tag] = IMAGE.split(':') as [string, string];
    await cluster.helm([
      'install',
      'vaultsync',
      join(REPO, 'charts', 'vaultsync'),
      '--namespace',
      NS,
      '--set-json',
      'replicaCount=2',
      '--set',
      `image.repository=${repository}`,
      '--set',
      `image.tag=${tag}`,
      '--set',
      'image.pullPolicy=Never',
      '--set',
      `config.vaultAddress=${cluster.vaultNodeAddr}`,
      '--set',
      'webhook.existingSecret=vaultsync-webhook',
      '--set',
      'config.refreshMin=1s',
    ]);
    process.stderr.write(`[cluster] helm install in ${Date.now() - t0} ms\n`);
  } catch (err) {
    failed = true;
    throw err;
  }
}, 900_000);

afterAll(async () => {
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- undefined when beforeAll failed early
  await cluster?.stop(failed);
}, 300_000);

describe('the chart on a real node', () => {
  let leader = '';

  it(
    'runs two Ready pods of the image built from the Dockerfile, one holding the leader Lease',
    track(async () => {
      const t0 = Date.now();
      const r = await twoReadyPodsAndLeader();
      leader = r.leader;
      process.stderr.write(`[cluster] 2 pods Ready, leader ${leader}, ${Date.now() - t0} ms after helm install\n`);
      const images = await cluster.kubectl([
        'get',
        'pods',
        '-n',
        NS,
        '-o',
        'jsonpath={.items[*].status.containerStatuses[*].image}',
      ]);
      expect(images.split(' ').every((i) => i.endsWith(IMAGE))).toBe(true);
      // The pods' addresses are on the node's bridge: these are real network namespaces.
      for (const p of r.pods) expect(p.status?.podIP).toMatch(/^10\.244\.0\.\d+$/);
    }),
    300_000,
  );

  it(
    "syncs a SecretSync: the pod's projected token for the API, a TokenRequest token for OpenBao",
    track(async () => {
      await createSecretSync(
        cluster.env,
        secretSync(TEAM, 'app', {
          vault: { kv: { mount: 'secret', path: 'app/config' } },
          auth: { kubernetes: { role: 'app-read', serviceAccountName: 'app' } },
          target: { name: 'app-secret' },
          refresh: { interval: '1h' },
          // Restarted on a change of the Secret's data only: the Deployment does not exist yet, and
          // the first sync (creating the Secret) is not a change.
          rolloutRestartTargets: [{ kind: 'Deployment', name: 'consumer' }],
        }),
      );
      await waitReady(cluster.env, TEAM, 'app', 'True', undefined, 120_000);
      const s = await getSecret(cluster.env, TEAM, 'app-secret');
      expect(decode(s?.data).DB_PASS).toBe(CANARY);
    }),
    180_000,
  );

  it(
    'a consumer Deployment reads the Secret with envFrom (kubectl logs)',
    track(async () => {
      await cluster.apply({
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name: 'consumer', namespace: TEAM },
        spec: {
          replicas: 1,
          selector: { matchLabels: { app: 'consumer' } },
          template: {
            metadata: { labels: { app: 'consumer' } },
            spec: {
              automountServiceAccountToken: false,
              // `sleep` as PID 1 ignores SIGTERM: without this the replaced pod lingers 30 s.
              terminationGracePeriodSeconds: 1,
              containers: [
                {
                  name: 'app',
                  image: BASE_IMAGE,
                  imagePullPolicy: 'Never',
                  command: ['sh', '-c', 'echo "DB_PASS=$DB_PASS"; exec sleep 3600'],
                  envFrom: [{ secretRef: { name: 'app-secret' } }],
                },
              ],
            },
          },
        },
      });
      const line = await waitFor(
        'the consumer to print DB_PASS',
        async () => {
          const out = await cluster.kubectl(['logs', '-n', TEAM, 'deployment/consumer'], { allowFail: true });
          return out.split('\n').find((l) => l.startsWith('DB_PASS=')) ?? undefined;
        },
        120_000,
        1000,
      );
      expect(line).toBe(`DB_PASS=${CANARY}`);
    }),
    180_000,
  );

  // The consumer's pod before the change, and when the change was pushed / seen in the Secret.
  let oldPod: Pod | undefined;
  let pushedAt = 0;
  let secretChangedAt = 0;

  it(
    "a Vault change plus a signed trigger through the chart's Service reaches the leader",
    track(async () => {
      const pods = await consumerPods();
      expect(pods).toHaveLength(1);
      oldPod = pods[0];
      await cluster.env.writeKv('app/config', { DB_PASS: ROTATED });
      pushedAt = Date.now();
      const stdout = await trigger();
      expect(stdout).toMatch(/queued 1 SecretSync/);
      await waitSecret(cluster.env, TEAM, 'app-secret', (s) => decode(s.data).DB_PASS === ROTATED, 30_000);
      secretChangedAt = Date.now();
      process.stderr.write(`[cluster] trigger to rotated Secret in ${secretChangedAt - pushedAt} ms\n`);
      // envFrom is read when a container starts: the running pod still has the old value, so only
      // a new pod can show the new one.
      expect(await printed(oldPod!.metadata.name)).toBe(`DB_PASS=${CANARY}`);
    }),
    120_000,
  );

  it(
    "the change rollout-restarts the consumer: a new pod, started after the Secret's update, prints the new value; the old pod is gone",
    track(async () => {
      expect(oldPod).toBeDefined();
      const old = oldPod!;
      // A new pod of the Deployment (another UID, another ReplicaSet) that is Ready and printed.
      const fresh = await waitFor(
        'a new Ready consumer pod that printed DB_PASS',
        async () => {
          const p = (await consumerPods()).find(
            (x) => x.metadata.uid !== old.metadata.uid && !x.metadata.deletionTimestamp,
          );
          if (!p || !ready(p)) return undefined;
          const line = await printed(p.metadata.name);
          return line ? { pod: p, line } : undefined;
        },
        120_000,
        250,
      );
      const readyAt = Date.now();
      const readySince = fresh.pod.status?.conditions?.find((c) => c.type === 'Ready')?.lastTransitionTime;
      process.stderr.write(
        `[cluster] rollout restart: trigger to new consumer pod Ready and printing in ${readyAt - pushedAt} ms ` +
          `(Secret updated after ${secretChangedAt - pushedAt} ms; pod created ${fresh.pod.metadata.creationTimestamp}, Ready ${readySince ?? '?'})\n`,
      );
      expect(fresh.line).toBe(`DB_PASS=${ROTATED}`);
      expect(fresh.pod.metadata.name).not.toBe(old.metadata.name);
      expect(fresh.pod.metadata.labels?.['pod-template-hash']).not.toBe(old.metadata.labels?.['pod-template-hash']);
      // The Secret was written before the pod was made (the API server's times, to the second);
      // that the pod printed the new value says the same at container start.
      const secret = JSON.parse(
        await cluster.kubectl(['get', 'secret', 'app-secret', '-n', TEAM, '-o', 'json', '--show-managed-fields']),
      ) as {
        metadata: { managedFields?: { time?: string }[] };
      };
      const written = Math.max(...(secret.metadata.managedFields ?? []).map((f) => Date.parse(f.time ?? '')));
      expect(written).toBeGreaterThanOrEqual(Math.floor(pushedAt / 1000) * 1000);
      expect(Date.parse(fresh.pod.metadata.creationTimestamp)).toBeGreaterThanOrEqual(written);
      // What the controller patched: the pod template's restart annotations, a keyed digest.
      const dep = JSON.parse(await cluster.kubectl(['get', 'deployment', 'consumer', '-n', TEAM, '-o', 'json'])) as {
        spec: { template: { metadata: { annotations?: Record<string, string> } } };
      };
      const ann = dep.spec.template.metadata.annotations ?? {};
      expect(ann['vaultsync.io/restartedAt']).toMatch(/^\d{4}-\d\d-\d\dT/);
      expect(ann['vaultsync.io/restart-digest']).toMatch(/^[0-9a-f]{32}$/);
      const events = await eventsFor(cluster.env, TEAM, 'app');
      expect(events.filter((e) => e.reason === 'RolloutRestarted')).toHaveLength(1);
      // The old pod goes once the new one is Ready (RollingUpdate, maxUnavailable 0 for one replica).
      await waitFor(
        `old consumer pod ${old.metadata.name} gone`,
        async () => !(await consumerPods()).some((p) => p.metadata.uid === old.metadata.uid),
        90_000,
        250,
      );
      process.stderr.write(`[cluster] old consumer pod gone ${Date.now() - pushedAt} ms after the trigger\n`);
      const left = await consumerPods();
      expect(left.map((p) => p.metadata.uid)).toEqual([fresh.pod.metadata.uid]);
    }),
    240_000,
  );

  it(
    'deleting the leader pod hands over: the other replica takes the Lease and syncs',
    track(async () => {
      const before = await controllerPods();
      const standby = before.find((p) => p.metadata.name !== leader)?.metadata.name;
      expect(standby).toBeDefined();
      const t0 = Date.now();
      await cluster.kubectl(['delete', 'pod', leader, '-n', NS, '--wait=false']);
      const next = await waitFor(
        'the standby to take the Lease',
        async () => {
          const h = holderPod(before, await leaseHolder());
          return h && h !== leader ? h : undefined;
        },
        120_000,
        500,
      );
      expect(next).toBe(standby);
      process.stderr.write(`[cluster] Lease ${leader} -> ${next} in ${Date.now() - t0} ms\n`);
      // The new leader syncs: a change pushed through the Service lands.
      await cluster.env.writeKv('app/config', { DB_PASS: HANDOVER });
      expect(await trigger()).toMatch(/queued 1 SecretSync/);
      await waitSecret(cluster.env, TEAM, 'app-secret', (s) => decode(s.data).DB_PASS === HANDOVER, 60_000);
      // The Deployment replaces the deleted pod: two Ready replicas again.
      await twoReadyPodsAndLeader();
    }),
    300_000,
  );

  it(
    "no secret value in the controller pods' logs",
    track(async () => {
      for (const p of await controllerPods()) {
        const logs = await cluster.kubectl(['logs', '-n', NS, p.metadata.name]);
        expect(logs.length).toBeGreaterThan(0);
        for (const v of [CANARY, ROTATED, HANDOVER, WEBHOOK_KEY]) expect(logs).not.toContain(v);
      }
    }),
    60_000,
  );
});
