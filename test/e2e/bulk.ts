/**
 * Helpers for the reliability suite: many objects at once, the controller's /metrics, figures.
 * Everything goes to the real apiserver and the real controller process.
 */
import { call, must } from '../env/http.js';
import type { TestEnv } from '../env/testenv.js';
import { readyOf, type SecretObject, type SecretSyncObject } from './helpers.js';

/** Runs `fn` over `items` with at most `limit` calls in flight; rejects with the first failure. */
export async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T, i: number) => Promise<R>,
): Promise<R[]> {
  const out: R[] = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i] as T, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

export async function listSecretSyncs(env: TestEnv, ns: string): Promise<SecretSyncObject[]> {
  const r = await must<{ items: SecretSyncObject[] }>(
    env.kube,
    'GET',
    `/apis/vaultsync.io/v1alpha1/namespaces/${ns}/secretsyncs`,
  );
  return r.body.items;
}

/** Every Secret of a namespace (managed or not), so orphans and strays are seen too. */
export async function listSecrets(env: TestEnv, ns: string): Promise<SecretObject[]> {
  const r = await must<{ items: SecretObject[] }>(env.kube, 'GET', `/api/v1/namespaces/${ns}/secrets`);
  return r.body.items;
}

/** How many of `syncs` have Ready=`status` (with `reason`, if given) for their current generation. */
export function countReady(syncs: readonly SecretSyncObject[], status: 'True' | 'False', reason?: string): number {
  return syncs.filter((s) => {
    const c = readyOf(s);
    return (
      c?.status === status &&
      (reason === undefined || c.reason === reason) &&
      s.status?.observedGeneration === s.metadata.generation
    );
  }).length;
}

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** The controller's /metrics, parsed (Prometheus text format, enough for counters and gauges). */
export async function scrape(url: string): Promise<Sample[]> {
  const r = await call(url.startsWith('http') ? { url } : { url: `http://${url}` }, 'GET', '/metrics');
  if (r.status !== 200) throw new Error(`GET /metrics: HTTP ${r.status}`);
  return parseProm(r.text);
}

export function parseProm(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[3] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g))
      labels[l[1] ?? ''] = l[2] ?? '';
    out.push({ name: m[1] ?? '', labels, value: Number(m[4]) });
  }
  return out;
}

/** Sum of the samples named `name` whose labels include `labels`. */
export function metric(samples: readonly Sample[], name: string, labels: Record<string, string> = {}): number {
  return samples
    .filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
    .reduce((n, s) => n + s.value, 0);
}

/** One figure for the report: `FIGURE: <name> = <value>`. */
export function figure(name: string, value: number | string, unit = ''): void {
  const v = typeof value === 'number' ? (Number.isInteger(value) ? String(value) : value.toFixed(2)) : value;
  console.log(`FIGURE: ${name} = ${v}${unit === '' ? '' : ` ${unit}`}`);
}

/** Marks the suite failed (keeping the environment's logs) when `fn` throws. */
export function tracked(onFail: () => void) {
  return <T>(fn: () => Promise<T>) =>
    async (): Promise<T> => {
      try {
        return await fn();
      } catch (err) {
        onFail();
        throw err;
      }
    };
}
