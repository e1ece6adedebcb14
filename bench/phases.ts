/**
 * The measured phases that need the bench to look at the cluster: waiting for the initial sync (two
 * cluster-wide watches, with a Table LIST of each namespace at the start, once a minute and to confirm
 * the end), first-sync latency of new objects, and webhook latency (all by watch, so a time is when an
 * event arrived, not a polling period).
 */
import { createHmac } from 'node:crypto';
import type { Client, WatchObject } from './client.js';
import { pool, sleep } from './client.js';
import type { Engine, Running, SyncObjectSpec } from './engines.js';

const TABLE = 'application/json;as=Table;v=v1;g=meta.k8s.io,application/json';

interface Table {
  columnDefinitions?: { name: string }[];
  rows?: { cells: unknown[] }[];
}

/** Names (and Ready cells, when the table has that column) of a collection, from the watch cache. */
async function tableRows(kube: Client, path: string): Promise<{ name: string; ready?: string }[]> {
  const r = await kube.must<Table>('GET', `${path}?resourceVersion=0&includeObject=None`, undefined, [], {
    accept: TABLE,
  });
  const cols = r.body.columnDefinitions ?? [];
  const nameAt = cols.findIndex((c) => c.name === 'Name');
  const readyAt = cols.findIndex((c) => c.name === 'Ready');
  return (r.body.rows ?? []).map((row) => ({
    name: String(row.cells[nameAt]),
    ...(readyAt >= 0 ? { ready: String(row.cells[readyAt]) } : {}),
  }));
}

export interface InitialSync {
  seconds: number;
  done: boolean;
  ready: number;
  secrets: number;
  /** [seconds since engine start, Ready=True count, Secrets count], one per poll. */
  timeline: [number, number, number][];
}

export async function waitInitialSync(
  kube: Client,
  engine: Engine,
  running: Running,
  expected: Map<string, number>,
  t0: number,
  timeoutMs: number,
  progress: (s: string) => void,
): Promise<InitialSync> {
  const total = [...expected.values()].reduce((a, b) => a + b, 0);
  // Seen Ready at least once / seen to exist, by "namespace/name". The initial sync only moves forward,
  // and the end is confirmed by a list of every namespace before it counts.
  const ready = new Set<string>();
  const secrets = new Set<string>();
  const seenObject = (o: WatchObject) => {
    if (expected.has(o.metadata.namespace) && /^ss-\d+$/.test(o.metadata.name) && isReady(o, false)) {
      ready.add(`${o.metadata.namespace}/${o.metadata.name}`);
    }
  };
  const seenSecret = (o: WatchObject) => {
    if (expected.has(o.metadata.namespace) && /^s-\d+$/.test(o.metadata.name)) {
      secrets.add(`${o.metadata.namespace}/${o.metadata.name}`);
    }
  };
  const abort = new AbortController();
  const [objRv, secRv] = await Promise.all([
    currentRv(kube, engine.allObjectsPath()),
    currentRv(kube, '/api/v1/secrets'),
  ]);
  const watches = [
    kube.watch(engine.allObjectsPath(), objRv, (_t, o) => seenObject(o), abort.signal),
    kube.watch('/api/v1/secrets', secRv, (_t, o) => seenSecret(o), abort.signal),
  ];
  // What the watches started after (and, once a minute, anything a reopened watch skipped): one Table
  // list of each namespace's sync objects and Secrets. This bench used to list every unfinished
  // namespace every second: ~0.1 CPU of the apiserver at N = 10 000, but at 100 000 (100 namespaces of
  // 1 000) the lists took the apiserver's whole share and a Secret POST took 1-3 s.
  const listAll = async (): Promise<{ ready: number; secrets: number }> => {
    const counts = { ready: 0, secrets: 0 };
    for (const ns of expected.keys()) {
      const [objs, secs] = await Promise.all([
        tableRows(kube, engine.objectsPath(ns)),
        tableRows(kube, `/api/v1/namespaces/${ns}/secrets`),
      ]);
      for (const o of objs) {
        if (!/^ss-\d+$/.test(o.name) || o.ready !== 'True') continue;
        ready.add(`${ns}/${o.name}`);
        counts.ready++;
      }
      for (const o of secs) {
        if (!/^s-\d+$/.test(o.name)) continue;
        secrets.add(`${ns}/${o.name}`);
        counts.secrets++;
      }
    }
    return counts;
  };
  const timeline: [number, number, number][] = [];
  try {
    await listAll();
    let lastLog = 0;
    let lastList = Date.now();
    for (;;) {
      const now = Date.now();
      timeline.push([(now - t0) / 1000, ready.size, secrets.size]);
      if (ready.size === total && secrets.size === total) {
        const confirmed = await listAll();
        if (confirmed.ready === total && confirmed.secrets === total) {
          return { seconds: (now - t0) / 1000, done: true, ready: total, secrets: total, timeline };
        }
        // Something seen Ready went back (a failure after a success): start counting again from this list.
        progress(`  list after the watches counted all: ${confirmed.ready} Ready, ${confirmed.secrets} Secrets`);
        ready.clear();
        secrets.clear();
        await listAll();
      }
      if (!running.running()) throw new Error(`${engine.name} exited during the initial sync; see ${running.logFile}`);
      if (now - t0 > timeoutMs)
        return { seconds: (now - t0) / 1000, done: false, ready: ready.size, secrets: secrets.size, timeline };
      if (now - lastLog > 10_000) {
        progress(
          `  ${((now - t0) / 1000).toFixed(0)} s: ${ready.size}/${total} Ready, ${secrets.size}/${total} Secrets`,
        );
        lastLog = now;
      }
      if (now - lastList > 60_000) {
        await listAll();
        lastList = Date.now();
      }
      await sleep(Math.max(0, 250 - (Date.now() - now)));
    }
  } finally {
    abort.abort();
    await Promise.all(watches);
  }
}

/** The collection's current resourceVersion, to start a watch from "now". */
async function currentRv(kube: Client, path: string): Promise<string> {
  const sep = path.includes('?') ? '&' : '?';
  const r = await kube.must<{ metadata: { resourceVersion: string } }>('GET', `${path}${sep}limit=1`);
  return r.body.metadata.resourceVersion;
}

const isReady = (o: WatchObject, checkGeneration: boolean) =>
  o.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true &&
  (!checkGeneration || o.status.observedGeneration === o.metadata.generation);

export interface Latencies {
  count: number;
  done: number;
  /** At the cap: how many were Ready, how many Secrets existed (when not all were done). */
  readyAtCap?: number;
  secretsAtCap?: number;
  p50Ms?: number;
  p99Ms?: number;
  maxMs?: number;
  samplesMs: number[];
}

export function percentile(sorted: number[], p: number): number | undefined {
  if (sorted.length === 0) return undefined;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))];
}

export function latencies(count: number, samples: number[]): Latencies {
  const s = [...samples].sort((a, b) => a - b);
  return {
    count,
    done: s.length,
    p50Ms: percentile(s, 0.5),
    p99Ms: percentile(s, 0.99),
    maxMs: s.at(-1),
    samplesMs: s.map((x) => Math.round(x)),
  };
}

const NEW_LABEL = 'bench.vaultsync.io/new';

/**
 * Creates `specs.length` objects spread evenly over `spreadMs` while the engine refreshes the
 * others, and measures create (before the POST) → Ready=True and the Secret exists.
 */
export async function newSyncLatency(
  kube: Client,
  engine: Engine,
  specs: SyncObjectSpec[],
  spreadMs: number,
  capMs: number,
): Promise<Latencies> {
  const targets = new Map(specs.map((s) => [`${s.namespace}/${s.target}`, s.name]));
  const created = new Map<string, number>();
  const readyAt = new Map<string, number>();
  const secretAt = new Map<string, number>();
  const abort = new AbortController();
  const objPath = `${engine.allObjectsPath()}?labelSelector=${encodeURIComponent(`${NEW_LABEL}=true`)}`;
  const [objRv, secRv] = await Promise.all([currentRv(kube, objPath), currentRv(kube, '/api/v1/secrets')]);
  const watches = [
    kube.watch(
      objPath,
      objRv,
      (_t, o) => {
        const key = `${o.metadata.namespace}/${o.metadata.name}`;
        if (!readyAt.has(key) && isReady(o, engine.name === 'vaultsync')) readyAt.set(key, performance.now());
      },
      abort.signal,
    ),
    kube.watch(
      '/api/v1/secrets',
      secRv,
      (_t, o) => {
        const name = targets.get(`${o.metadata.namespace}/${o.metadata.name}`);
        const key = `${o.metadata.namespace}/${name}`;
        if (name && !secretAt.has(key)) secretAt.set(key, performance.now());
      },
      abort.signal,
    ),
  ];
  await sleep(500); // let both watches connect
  const t0 = performance.now();
  const spacing = specs.length > 1 ? spreadMs / specs.length : 0;
  const posts = specs.map(async (s, i) => {
    await sleep(Math.max(0, t0 + i * spacing - performance.now()));
    created.set(`${s.namespace}/${s.name}`, performance.now());
    await kube.must('POST', engine.objectsPath(s.namespace), engine.object({ ...s, labels: { [NEW_LABEL]: 'true' } }));
  });
  await Promise.all(posts);
  const deadline = t0 + capMs;
  const done = () => [...created.keys()].filter((k) => readyAt.has(k) && secretAt.has(k));
  while (done().length < specs.length && performance.now() < deadline) await sleep(100);
  abort.abort();
  await Promise.all(watches);
  const samples = done().map((k) => Math.max(readyAt.get(k)!, secretAt.get(k)!) - created.get(k)!);
  return { ...latencies(specs.length, samples), readyAtCap: readyAt.size, secretsAtCap: secretAt.size };
}

export interface WebhookResult extends Latencies {
  rounds: number;
  /** Time until the last of the SecretSyncs was updated, per round. */
  lastMs: (number | null)[];
  /** Time of the signed POST itself (until the 202). */
  requestMs: number[];
  /**
   * The floor in the same run: a bare client PUTs the same 100 Secrets' worth (scratch Secrets of the
   * same shape in the same namespaces, which no engine manages) at the engine's write concurrency,
   * and the same watch times each; from just before the first PUT.
   */
  bare?: Latencies & { lastMs: (number | null)[]; concurrency: number };
}

interface Round {
  /** Makes round `r` write `value` (base64 is what the watch looks for); resolves to the start time. */
  start(r: number, value: string): Promise<number>;
}

/**
 * Rounds of `round.start` (a new PASSWORD value for every Secret in `targets`), timing with one watch
 * until every target holds the round's value.
 */
async function timedRounds(
  kube: Client,
  targets: { namespace: string; name: string }[],
  rounds: number,
  roundCapMs: number,
  round: Round,
): Promise<Latencies & { lastMs: (number | null)[] }> {
  const keys = new Set(targets.map((t) => `${t.namespace}/${t.name}`));
  const updatedAt = new Map<string, number>();
  let expected = '';
  const abort = new AbortController();
  const watch = kube.watch(
    '/api/v1/secrets',
    await currentRv(kube, '/api/v1/secrets'),
    (_t, s) => {
      const key = `${s.metadata.namespace}/${s.metadata.name}`;
      if (!keys.has(key)) return;
      if ((s.data?.PASSWORD ?? '') === expected && !updatedAt.has(key)) updatedAt.set(key, performance.now());
    },
    abort.signal,
  );
  await sleep(500);
  const samples: number[] = [];
  const lastMs: (number | null)[] = [];
  try {
    for (let r = 0; r < rounds; r++) {
      const value = `webhook-round-${r}-${Date.now()}`;
      expected = Buffer.from(value).toString('base64');
      updatedAt.clear();
      const t0 = await round.start(r, value);
      const deadline = t0 + roundCapMs;
      while (updatedAt.size < keys.size && performance.now() < deadline) await sleep(20);
      for (const t of updatedAt.values()) samples.push(t - t0);
      lastMs.push(updatedAt.size === keys.size ? Math.round(Math.max(...updatedAt.values()) - t0) : null);
      await sleep(2000);
    }
  } finally {
    abort.abort();
    await watch;
  }
  return { ...latencies(keys.size * rounds, samples), lastMs };
}

/**
 * Rounds of: write a new value at `kvPath`, send a signed POST /v1/refresh naming the path, and time
 * until every Secret in `targets` holds it.
 */
export async function webhookLatency(o: {
  kube: Client;
  vault: Client;
  engineUrl: string;
  key: string;
  kvPath: string;
  targets: { namespace: string; name: string }[];
  rounds: number;
  roundCapMs: number;
}): Promise<WebhookResult> {
  const requestMs: number[] = [];
  const vaultsyncSig = (ts: string, body: string) =>
    `sha256=${createHmac('sha256', o.key).update(`${ts}.${body}`).digest('hex')}`;
  const pushed = await timedRounds(o.kube, o.targets, o.rounds, o.roundCapMs, {
    async start(_r, value) {
      await o.vault.must('POST', `/v1/secret/data/${o.kvPath}`, { data: { username: 'webhook', password: value } });
      const body = JSON.stringify({ paths: [`secret/${o.kvPath}`] });
      const ts = String(Math.floor(Date.now() / 1000));
      const t0 = performance.now();
      const res = await fetch(`${o.engineUrl}/v1/refresh`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'x-vaultsync-timestamp': ts,
          'x-vaultsync-signature': vaultsyncSig(ts, body),
        },
        body,
      });
      requestMs.push(Math.round(performance.now() - t0));
      if (res.status !== 202) throw new Error(`POST /v1/refresh: HTTP ${res.status}: ${await res.text()}`);
      return t0;
    },
  });
  return { ...pushed, rounds: o.rounds, requestMs };
}

/**
 * WebhookResult.bare: `rounds` rounds of a bare client PUTting a new value into scratch Secrets of the
 * same shape beside `targets` at `concurrency`, timed by the same watch from just before the first PUT.
 */
export async function bareWriteLatency(
  kube: Client,
  targets: { namespace: string; name: string }[],
  rounds: number,
  roundCapMs: number,
  concurrency: number,
): Promise<NonNullable<WebhookResult['bare']>> {
  const bare = await bareTargets(kube, targets);
  const timed = await timedRounds(kube, bare, rounds, roundCapMs, {
    async start(_r, value) {
      const t0 = performance.now();
      await pool(bare.length, concurrency, async (i) => {
        const s = bare[i]!;
        await kube.must('PUT', `/api/v1/namespaces/${s.namespace}/secrets/${s.name}`, bareSecret(s, value));
      });
      return t0;
    },
  });
  await pool(bare.length, concurrency, async (i) => {
    const s = bare[i]!;
    await kube.request('DELETE', `/api/v1/namespaces/${s.namespace}/secrets/${s.name}`);
  });
  return { ...timed, concurrency };
}

/** One scratch Secret per target, beside it and of its shape, labelled so that no engine manages it. */
async function bareTargets(
  kube: Client,
  targets: { namespace: string; name: string }[],
): Promise<{ namespace: string; name: string }[]> {
  const bare = targets.map((t) => ({ namespace: t.namespace, name: `bare-${t.name}` }));
  await pool(bare.length, 16, async (i) => {
    const s = bare[i]!;
    await kube.must('POST', `/api/v1/namespaces/${s.namespace}/secrets`, bareSecret(s, 'initial'));
  });
  return bare;
}

function bareSecret(s: { namespace: string; name: string }, value: string) {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: {
      name: s.name,
      namespace: s.namespace,
      labels: { 'app.kubernetes.io/managed-by': 'bench' },
      annotations: {
        'vaultsync.io/secretsync': `${s.namespace}/${s.name}`,
        'vaultsync.io/vault-version': '1',
        'vaultsync.io/content-hmac': createHmac('sha256', 'bench').update(value).digest('hex'),
      },
    },
    type: 'Opaque',
    data: { USERNAME: Buffer.from('webhook').toString('base64'), PASSWORD: Buffer.from(value).toString('base64') },
  };
}
