/**
 * `npm run bench -- [--n 10000] [--k 1000] [--namespaces 10] [--interval 60s] [--cycles 2]
 *                   [--concurrency 16] [--new 50] [--webhook] [--eso | --eso-only] [--out file.json]`
 *
 * Runs vaultsync (and ESO) against the real local environment (etcd, kube-apiserver, OpenBao),
 * prints one table and writes every figure as JSON. See docs/benchmarks.md.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, release, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { parseDuration } from '../src/api/index.js';
import { findBinaries } from '../test/env/paths.js';
import { REPO } from '../test/env/testenv.js';
import { esoEngine, findEsoBinary, findEsoCrds, imageNodeFlags, vaultsyncEngine, type Engine } from './engines.js';
import { renderTable, verdicts } from './report.js';
import { runScenario, type Cleanups, type Params, type ScenarioResult } from './scenario.js';

const USAGE = `usage: npm run bench -- [options]
  --n N                 SecretSyncs (default 10000)
  --k K                 distinct Vault paths (default 1000)
  --namespaces M        namespaces = identities (default 10)
  --interval D          refresh interval (default 60s)
  --cycles C            steady-state cycles observed (default 2)
  --concurrency C       bare-client and controller write concurrency (default 16)
  --write-qps Q         controller --write-qps and ESO --client-qps (default 1000)
  --vault-qps Q         controller --vault-qps (default 1000)
  --new N               new SecretSyncs created during steady state (default 50)
  --new-cap D           how long to wait for them after the first POST (default interval + 60s)
  --webhook             also measure push refresh (100 SecretSyncs on one path)
  --webhook-rounds R    webhook rounds (default 5)
  --eso                 also run External Secrets Operator v0.16.2
  --eso-only            run only ESO
  --timeout D           cap on the initial sync (default 15m)
  --controller-arg A    extra flag for vaultsync run (repeatable)
  --out FILE            JSON output (default bench/results/<timestamp>.json)
  --node-options OPTS   NODE_OPTIONS for the controller, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof"
                        or "--max-old-space-size=96"
  --profile DIR         CPU and sampled heap profiles of the controller into DIR, heap snapshots at the
                        end of the initial sync and of the last cycle (timings and RSS then not comparable)
  --no-raw              skip the bare-client phase (faster on a busy machine; no initial-sync ratio)
  --keep                keep the environments' directories (logs)`;

function parse(): {
  p: Params;
  eso: boolean;
  vaultsync: boolean;
  out: string;
  writeQps: number;
  vaultQps: number;
  controllerArgs: string[];
  nodeOptions: string | undefined;
} {
  const { values } = parseArgs({
    options: {
      n: { type: 'string', default: '10000' },
      k: { type: 'string', default: '1000' },
      namespaces: { type: 'string', default: '10' },
      interval: { type: 'string', default: '60s' },
      cycles: { type: 'string', default: '2' },
      concurrency: { type: 'string', default: '16' },
      'write-qps': { type: 'string', default: '1000' },
      'vault-qps': { type: 'string', default: '1000' },
      new: { type: 'string', default: '50' },
      'new-cap': { type: 'string' },
      webhook: { type: 'boolean', default: false },
      'webhook-rounds': { type: 'string', default: '5' },
      eso: { type: 'boolean', default: false },
      'eso-only': { type: 'boolean', default: false },
      timeout: { type: 'string', default: '15m' },
      'controller-arg': { type: 'string', multiple: true, default: [] },
      out: { type: 'string' },
      keep: { type: 'boolean', default: false },
      'node-options': { type: 'string' },
      profile: { type: 'string' },
      'no-raw': { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    process.exit(0);
  }
  const int = (name: string, v: string, min: number) => {
    if (!/^\d+$/.test(v) || Number(v) < min) throw new Error(`--${name}: "${v}" must be an integer ≥ ${min}`);
    return Number(v);
  };
  const p: Params = {
    n: int('n', values.n, 1),
    k: int('k', values.k, 1),
    namespaces: int('namespaces', values.namespaces, 1),
    interval: values.interval,
    intervalMs: parseDuration(values.interval),
    cycles: int('cycles', values.cycles, 1),
    concurrency: int('concurrency', values.concurrency, 1),
    newCount: int('new', values.new, 0),
    newCapMs:
      values['new-cap'] === undefined ? parseDuration(values.interval) + 60_000 : parseDuration(values['new-cap']),
    webhook: values.webhook,
    webhookCount: 100,
    webhookRounds: int('webhook-rounds', values['webhook-rounds'], 1),
    timeoutMs: parseDuration(values.timeout),
    settleMs: 3000,
    settleCapMs: 120_000,
    keep: values.keep,
    profileDir: values.profile === undefined ? undefined : resolve(values.profile),
    skipRaw: values['no-raw'],
  };
  if (p.intervalMs < 1000) throw new Error('--interval must be at least 1s');
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  return {
    p,
    eso: values.eso || values['eso-only'],
    vaultsync: !values['eso-only'],
    out: resolve(values.out ?? join(REPO, 'bench', 'results', `${stamp}.json`)),
    writeQps: int('write-qps', values['write-qps'], 1),
    vaultQps: int('vault-qps', values['vault-qps'], 1),
    controllerArgs: values['controller-arg'],
    nodeOptions: [values['node-options'], profileOptions(p.profileDir)].filter(Boolean).join(' ') || undefined,
  };
}

/**
 * `--profile DIR`: a CPU profile and a sampled heap profile of the whole run (written when the
 * controller exits), and heap snapshots on SIGUSR2, which the bench sends at the end of the initial
 * sync and of the last steady cycle. Taking a snapshot stops the controller for seconds and adds to
 * its RSS: timings and peak RSS of a profiled run are not comparable with an unprofiled one.
 */
function profileOptions(dir: string | undefined): string | undefined {
  if (dir === undefined) return undefined;
  mkdirSync(dir, { recursive: true });
  return [
    '--cpu-prof',
    `--cpu-prof-dir=${dir}`,
    '--heap-prof',
    `--heap-prof-dir=${dir}`,
    '--heapsnapshot-signal=SIGUSR2',
    `--diagnostic-dir=${dir}`,
  ].join(' ');
}

function machine() {
  return {
    nproc: availableParallelism(),
    cpu: cpus()[0]?.model ?? '?',
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    kernel: release(),
  };
}

async function main(): Promise<void> {
  const a = parse();
  const log = (s: string) => process.stderr.write(`${s}\n`);
  const pending = new Set<() => Promise<void>>();
  const cleanups: Cleanups = {
    add: (fn) => {
      pending.add(fn);
      return () => pending.delete(fn);
    },
  };
  let stopping = false;
  const onSignal = (sig: string) => {
    if (stopping) return;
    stopping = true;
    log(`\n${sig}: stopping every process the bench started`);
    void Promise.allSettled([...pending].map((fn) => fn())).then(() => process.exit(130));
  };
  process.on('SIGINT', () => onSignal('SIGINT'));
  process.on('SIGTERM', () => onSignal('SIGTERM'));

  const engines: Engine[] = [];
  const skipped: Record<string, string> = {};
  const controllerArgs = [
    `--concurrency=${a.p.concurrency}`,
    `--write-concurrency=${a.p.concurrency}`,
    `--write-qps=${a.writeQps}`,
    `--vault-qps=${a.vaultQps}`,
    `--vault-max-in-flight=${a.p.concurrency}`,
    '--log-level=info',
    ...a.controllerArgs,
  ];
  if (a.vaultsync) engines.push(vaultsyncEngine(controllerArgs, a.nodeOptions));
  if (a.eso) {
    const bin = findEsoBinary();
    const crds = findEsoCrds();
    if (bin.bin && crds.file) engines.push(esoEngine(bin.bin, crds.file, a.p.concurrency, a.writeQps));
    else skipped.eso = `ESO not run: ${[bin.why, crds.why].filter(Boolean).join('; ')}`;
  }
  for (const why of Object.values(skipped)) log(why);

  const bins = findBinaries();
  const results: ScenarioResult[] = [];
  const t0 = Date.now();
  for (const engine of engines) {
    results.push(await runScenario(engine, a.p, cleanups, log));
  }
  const report = {
    startedAt: new Date(t0).toISOString(),
    wallSeconds: Math.round((Date.now() - t0) / 1000),
    params: {
      ...a.p,
      writeQps: a.writeQps,
      vaultQps: a.vaultQps,
      controllerArgs,
      controllerNodeOptions: [...imageNodeFlags(), a.nodeOptions].filter(Boolean).join(' '),
      esoArgs: a.eso ? esoArgs(a) : undefined,
    },
    machine: machine(),
    binaries: { etcd: bins.etcd, kubeApiserver: bins.kubeApiserver, vault: bins.vault },
    skipped,
    verdicts: verdicts(
      results.find((r) => r.engine === 'vaultsync'),
      a.p,
      results.find((r) => r.engine === 'eso'),
    ),
    results,
  };
  mkdirSync(dirname(a.out), { recursive: true });
  writeFileSync(a.out, `${JSON.stringify(report, null, 2)}\n`);

  const m = report.machine;
  const v = results[0]?.versions ?? {};
  process.stdout.write(
    [
      '',
      `N=${a.p.n} SecretSyncs, K=${a.p.k} paths, ${a.p.namespaces} identities, ${results[0]?.groups ?? '?'} (identity, path) groups, ` +
        `interval ${a.p.interval}, ${a.p.cycles} cycles, concurrency ${a.p.concurrency}, ${a.p.newCount} new` +
        (a.p.webhook ? `, webhook ${a.p.webhookCount}×${a.p.webhookRounds}` : ''),
      `${m.nproc} CPUs (${m.cpu}), ${m.memoryGiB} GiB; node ${v.node ?? process.version}, kube-apiserver ${v.kubeApiserver ?? '?'}, ` +
        `OpenBao ${v.openbao ?? '?'}; ${results.map((r) => `${r.engine} ${r.version}`).join(', ')}`,
      '',
      renderTable(results, a.p),
      '',
      ...results.filter((r) => r.error).map((r) => `${r.engine} failed: ${r.error?.split('\n')[0] ?? ''}`),
      ...Object.values(skipped),
      `JSON: ${a.out}`,
      '',
    ].join('\n'),
  );
  if (results.some((r) => r.error)) process.exitCode = 1;
}

function esoArgs(a: ReturnType<typeof parse>): string[] {
  return [
    '--enable-leader-election=false',
    `--concurrent=${a.p.concurrency}`,
    `--client-qps=${a.writeQps}`,
    `--client-burst=${a.writeQps}`,
  ];
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
