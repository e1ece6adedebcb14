/** The one table the bench prints, and the target verdicts stored in the JSON too. */
import type { Params, ScenarioResult } from './scenario.js';
import type { VaultCounts } from './vault-audit.js';

export interface Verdict {
  id: string;
  target: string;
  value: string;
  met: boolean | null;
}

const TOKEN_TTL_S = 3600;

/** The issue's targets, judged on the vaultsync result (null: not measured in this run). */
export function verdicts(r: ScenarioResult | undefined, p: Params, eso?: ScenarioResult): Verdict[] {
  const out: Verdict[] = [];
  const add = (id: string, target: string, value: string, met: boolean | null) => out.push({ id, target, value, met });
  if (!r) return out;
  const init = r.initial;
  add(
    'initial',
    'initial sync ≤ 60 s',
    init ? `${init.seconds.toFixed(1)} s${init.done ? '' : ' (not finished)'}` : '—',
    init ? init.done && init.seconds <= 60 : null,
  );
  add(
    'ratio',
    'initial sync ≥ 80 % of a bare client doing the same two writes',
    init?.ratioToRaw !== undefined ? pct(init.ratioToRaw) : '—',
    init?.ratioToRaw !== undefined ? init.ratioToRaw >= 0.8 : null,
  );
  const initialReads = r.phases[0]?.vault.read;
  add(
    'initialReads',
    'Vault reads during the initial sync = K',
    initialReads !== undefined ? `${initialReads} (K = ${p.k})` : '—',
    initialReads !== undefined && init?.done === true ? initialReads <= p.k : null,
  );
  const s = r.steadyPerCycle;
  add(
    'reads',
    'Vault reads per steady cycle ≤ K',
    s ? `${s.vault.read} (K = ${p.k})` : '—',
    s ? s.vault.read <= p.k : null,
  );
  const steadyLogins = r.phases.filter((ph) => ph.name.startsWith('cycle-')).reduce((a, ph) => a + ph.vault.login, 0);
  const allowed = p.namespaces * Math.ceil((p.cycles * p.intervalMs) / 1000 / TOKEN_TTL_S);
  add(
    'logins',
    'logins ≤ 1 per identity per token TTL (1 h)',
    s
      ? `${steadyLogins} in ${p.cycles} cycles; initial ${init ? (r.phases[0]?.vault.login ?? 0) : '—'} for ${p.namespaces} identities`
      : '—',
    s ? steadyLogins <= allowed && (r.phases[0]?.vault.login ?? 0) <= p.namespaces : null,
  );
  add(
    'writes',
    'API-server writes per steady cycle = 0',
    s ? `${s.api.total} (+ ${s.api.tokenRequests} TokenRequests)` : '—',
    s ? s.api.total === 0 && s.api.tokenRequests === 0 : null,
  );
  const n = r.newSyncs;
  add(
    'new',
    'new SecretSync first sync p99 ≤ 2 s',
    n ? `${ms(n.p99Ms)} (${n.done}/${n.count})` : '—',
    n ? n.done === n.count && (n.p99Ms ?? Infinity) <= 2000 : null,
  );
  const rss = r.engineProcess?.peakRssMiB;
  add(
    'rss',
    'controller peak RSS ≤ 150 MiB',
    rss !== undefined ? `${rss} MiB` : '—',
    rss !== undefined ? rss <= 150 : null,
  );
  const esoRss = eso?.engineProcess?.peakRssMiB;
  add(
    'rssEso',
    'controller peak RSS ≤ 1/3 of ESO in the same run',
    rss !== undefined && esoRss !== undefined ? `${rss} / ${esoRss} MiB` : '—',
    rss !== undefined && esoRss !== undefined ? rss * 3 <= esoRss : null,
  );
  const cpu = s?.cpuSeconds.engine;
  const intervalS = p.intervalMs / 1000;
  add(
    'cpu',
    'steady controller CPU ≤ 5 % of one core at a 15-minute interval',
    cpu !== undefined
      ? `${pct1(cpu / intervalS)} of a core at ${p.interval}${intervalS < 900 ? `; the same work every 15 min: ${pct1(cpu / 900)}` : ''}`
      : '—',
    // Judged only when measured at that interval: the per-cycle cost scaled to 15 min is an estimate.
    cpu !== undefined && intervalS >= 900 ? cpu / intervalS <= 0.05 : null,
  );
  const w = r.webhook;
  add(
    'webhook50',
    'webhook p50 ≤ 100 ms',
    w ? ms(w.p50Ms) : '—',
    w ? w.done === w.count && (w.p50Ms ?? Infinity) <= 100 : null,
  );
  add(
    'webhook99',
    'webhook p99 ≤ 500 ms',
    w ? ms(w.p99Ms) : '—',
    w ? w.done === w.count && (w.p99Ms ?? Infinity) <= 500 : null,
  );
  return out;
}

const pct = (x: number) => `${(x * 100).toFixed(0)} %`;
const pct1 = (x: number) => `${(x * 100).toFixed(1)} %`;
const ms = (x: number | undefined) => (x === undefined ? '—' : `${Math.round(x)} ms`);
const num = (x: number | undefined, d = 0) => (x === undefined || !Number.isFinite(x) ? '—' : x.toFixed(d));
const kinds = (v: VaultCounts | undefined) => (v ? `${v.login}/${v.read}/${v.lookup}/${v.renew}/${v.other}` : '—');

interface Row {
  metric: string;
  get: (r: ScenarioResult) => string;
  /** For the ratio column: a number per engine, ratio = other ÷ vaultsync. */
  value?: (r: ScenarioResult) => number | undefined;
  /** Targets judged on this row (Verdict ids). */
  targets?: string[];
}

const rows: Row[] = [
  {
    metric: 'initial sync: all Ready + Secrets (s)',
    get: (r) =>
      r.initial
        ? `${num(r.initial.seconds, 1)}${r.initial.done ? '' : ` (cap; ${r.initial.ready} Ready, ${r.initial.secrets} Secrets)`}`
        : '—',
    value: (r) => (r.initial?.done ? r.initial.seconds : undefined),
    targets: ['initial'],
  },
  {
    metric: 'initial sync rate (Secrets/s)',
    get: (r) => num(r.initial?.perSecond),
    value: (r) => r.initial?.perSecond,
  },
  {
    metric: 'bare client: Secret create + status patch (objects/s)',
    get: (r) => num(r.raw?.perSecond),
    value: (r) => r.raw?.perSecond,
  },
  {
    metric: '  initial-sync rate ÷ bare-client rate',
    get: (r) => (r.initial?.ratioToRaw !== undefined ? pct(r.initial.ratioToRaw) : '—'),
    targets: ['ratio'],
  },
  {
    metric: '  apiserver / etcd / machine CPU s: bare client; initial sync',
    get: (r) => {
      const f = (c: Record<string, number> | undefined) =>
        c ? `${num(c['kube-apiserver'], 1)}/${num(c.etcd, 1)}/${num(c.machine, 1)}` : '—';
      return `${f(r.raw?.cpuSeconds)}; ${f(r.phases[0]?.cpuSeconds)}`;
    },
  },
  {
    metric: 'Vault, initial sync: login/read/lookup/renew/other',
    get: (r) => kinds(r.phases[0]?.vault),
    value: (r) => r.phases[0]?.vault.total,
    targets: ['initialReads'],
  },
  {
    metric: 'refreshes done per steady cycle (N due per cycle)',
    get: (r) => num(r.steadyPerCycle?.refreshes),
    value: (r) => r.steadyPerCycle?.refreshes,
  },
  {
    metric: 'Vault per steady cycle: login/read/lookup/renew/other',
    get: (r) => {
      const cycles = r.phases.filter((ph) => ph.name.startsWith('cycle-'));
      const each = cycles.length > 1 ? ` (reads: ${cycles.map((ph) => ph.vault.read).join(', ')})` : '';
      return `${kinds(r.steadyPerCycle?.vault)}${each}`;
    },
    value: (r) => r.steadyPerCycle?.vault.total,
    targets: ['reads', 'logins'],
  },
  {
    metric: 'API writes per steady cycle (Secrets/objects/events)',
    get: (r) => {
      const a = r.steadyPerCycle?.api;
      return a ? `${a.total} (${a.secrets}/${a.syncObjects}/${a.events})` : '—';
    },
    value: (r) => r.steadyPerCycle?.api.total,
    targets: ['writes'],
  },
  { metric: '  TokenRequests per steady cycle', get: (r) => num(r.steadyPerCycle?.api.tokenRequests, 1) },
  {
    metric: 'API writes, initial sync (Secrets/objects/events)',
    get: (r) => {
      const a = r.phases[0]?.api;
      return a ? `${a.total} (${a.secrets}/${a.syncObjects}/${a.events})` : '—';
    },
    value: (r) => r.phases[0]?.api.total,
  },
  {
    metric: 'new object first sync p50 / p99',
    get: (r) => {
      const x = r.newSyncs;
      if (!x) return '—';
      const partial =
        x.done < x.count ? ` (${x.done}/${x.count} in cap; ${x.readyAtCap} Ready, ${x.secretsAtCap} Secrets)` : '';
      return `${ms(x.p50Ms)} / ${ms(x.p99Ms)}${partial}`;
    },
    value: (r) => r.newSyncs?.p99Ms,
    targets: ['new'],
  },
  {
    metric: 'webhook trigger → Secret p50 / p99',
    get: (r) => (r.webhook ? `${ms(r.webhook.p50Ms)} / ${ms(r.webhook.p99Ms)}` : '—'),
    targets: ['webhook50', 'webhook99'],
  },
  {
    metric: '  bare client, the same 100 Secret PUTs → watch p50 / p99',
    get: (r) => (r.webhook?.bare ? `${ms(r.webhook.bare.p50Ms)} / ${ms(r.webhook.bare.p99Ms)}` : '—'),
  },
  {
    metric: 'engine peak RSS (MiB)',
    get: (r) => num(r.engineProcess?.peakRssMiB),
    value: (r) => r.engineProcess?.peakRssMiB,
    targets: ['rss', 'rssEso'],
  },
  {
    metric: 'engine CPU s: initial sync',
    get: (r) => num(r.phases[0]?.cpuSeconds.engine, 1),
    value: (r) => r.phases[0]?.cpuSeconds.engine,
  },
  {
    metric: 'engine CPU s: per steady cycle',
    get: (r) => num(r.steadyPerCycle?.cpuSeconds.engine, 1),
    value: (r) => r.steadyPerCycle?.cpuSeconds.engine,
    targets: ['cpu'],
  },
  {
    metric: 'apiserver+etcd+vault CPU s per steady cycle',
    get: (r) => {
      const c = r.steadyPerCycle?.cpuSeconds;
      return c ? num((c['kube-apiserver'] ?? 0) + (c.etcd ?? 0) + (c.vault ?? 0), 1) : '—';
    },
  },
  {
    metric: 'CPU s of other processes on the machine: initial / per cycle',
    get: (r) =>
      `${num(r.phases[0]?.cpuSeconds.outsideBench, 1)} / ${num(r.steadyPerCycle?.cpuSeconds.outsideBench, 1)}`,
  },
];

const TARGET_TEXT: Record<string, string> = {
  initial: '≤ 60 s',
  ratio: '≥ 80 %',
  initialReads: '= K',
  rssEso: '≤ ESO ÷ 3',
  cpu: '≤ 5 % of a core at 15 min',
  reads: 'reads ≤ K',
  logins: 'logins ≤ 1/identity/TTL',
  writes: '= 0',
  new: 'p99 ≤ 2 s',
  rss: '≤ 150 MiB',
  webhook50: 'p50 ≤ 100 ms',
  webhook99: 'p99 ≤ 500 ms',
};

/** One table: a column per engine, ESO ÷ vaultsync, then the issue's target and whether vaultsync met it. */
export function renderTable(results: ScenarioResult[], p: Params): string {
  const vs = results.find((r) => r.engine === 'vaultsync');
  const others = results.filter((r) => r !== vs);
  const byId = new Map(
    verdicts(
      vs,
      p,
      others.find((o) => o.engine === 'eso'),
    ).map((v) => [v.id, v]),
  );
  const header = [
    'metric',
    ...results.map((r) => r.engine),
    ...(vs ? others.map((o) => `${o.engine} ÷ vaultsync`) : []),
    ...(vs ? ['target', 'met'] : []),
  ];
  const body = rows.map((row) => {
    const ids = row.targets ?? [];
    const met = ids.map((id) => byId.get(id)?.met);
    return [
      row.metric,
      ...results.map((r) => row.get(r)),
      ...(vs
        ? others.map((o) => {
            const a = row.value?.(vs);
            const b = row.value?.(o);
            return a !== undefined && b !== undefined && a !== 0 ? `${(b / a).toFixed(1)}×` : '';
          })
        : []),
      ...(vs
        ? [
            ids.map((id) => TARGET_TEXT[id]).join(', '),
            ids.length === 0 ? '' : met.some((m) => m === false) ? 'NO' : met.every((m) => m === true) ? 'yes' : 'n/a',
          ]
        : []),
    ];
  });
  const lines = [header, ...body];
  const widths = header.map((_, i) => Math.max(...lines.map((l) => (l[i] ?? '').length)));
  const fmt = (l: string[]) =>
    l
      .map((c, i) => c.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  return [fmt(header), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(fmt)].join('\n');
}
