/** Prometheus text format: just enough to diff counters between two scrapes. */

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export function parseProm(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[3] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      labels[l[1]!] = l[2]!;
    }
    out.push({ name: m[1]!, labels, value: Number(m[4]) });
  }
  return out;
}

const keyOf = (s: Sample) =>
  `${s.name}{${Object.entries(s.labels)
    .map(([k, v]) => `${k}="${v}"`)
    .join(',')}}`;

/** Counter increases from `a` to `b`, by series key, for series whose name passes `keep`. Zeros are dropped. */
export function diffCounters(a: Sample[], b: Sample[], keep: (name: string) => boolean): Record<string, number> {
  const before = new Map(a.filter((s) => keep(s.name)).map((s) => [keyOf(s), s.value]));
  const out: Record<string, number> = {};
  for (const s of b) {
    if (!keep(s.name)) continue;
    const d = s.value - (before.get(keyOf(s)) ?? 0);
    if (d !== 0) out[keyOf(s)] = d;
  }
  return out;
}

/** apiserver_request_total diff over a window, summed into the groups the bench reports. */
export interface ApiWrites {
  secrets: number;
  /** SecretSyncs or ExternalSecrets, including their status subresource. */
  syncObjects: number;
  syncStatus: number;
  events: number;
  tokenRequests: number;
  other: number;
  /** secrets + syncObjects + events: writes that store or change an object the sync engine owns. */
  total: number;
  byResource: Record<string, number>;
}

const READ_VERBS = new Set(['GET', 'LIST', 'WATCH', 'CONNECT']);

export function apiWrites(a: Sample[], b: Sample[], syncResource: string): ApiWrites {
  const pick = (xs: Sample[]) =>
    xs.filter((s) => s.name === 'apiserver_request_total' && !READ_VERBS.has(s.labels.verb ?? ''));
  const before = new Map(pick(a).map((s) => [keyOf(s), s.value]));
  const w: ApiWrites = {
    secrets: 0,
    syncObjects: 0,
    syncStatus: 0,
    events: 0,
    tokenRequests: 0,
    other: 0,
    total: 0,
    byResource: {},
  };
  for (const s of pick(b)) {
    const d = s.value - (before.get(keyOf(s)) ?? 0);
    if (d === 0) continue;
    const { resource = '', subresource = '', verb = '' } = s.labels;
    const label = `${verb} ${resource}${subresource ? `/${subresource}` : ''}`;
    w.byResource[label] = (w.byResource[label] ?? 0) + d;
    if (resource === 'secrets') w.secrets += d;
    else if (resource === syncResource) {
      w.syncObjects += d;
      if (subresource === 'status') w.syncStatus += d;
    } else if (resource === 'events') w.events += d;
    else if (resource === 'serviceaccounts' && subresource === 'token') w.tokenRequests += d;
    else w.other += d;
  }
  w.total = w.secrets + w.syncObjects + w.events;
  return w;
}
