/**
 * `npm run bench:kms -- [--n 10000] [--concurrency 32] [--rounds 2] [--rpc 2000] [--keep]`
 *
 * The cost of encryption at rest with the KMS v2 plugin, on the real local environment: N Secret
 * creates through kube-apiserver without encryption and with `vaultsync kms` (Vault Transit),
 * alternating, in the same run and on the same machine; the Transit calls those writes caused; and the
 * plugin's own Encrypt/Decrypt latency measured over its socket. Prints one table (docs/benchmarks.md).
 */
import { cpus } from 'node:os';
import { parseArgs } from 'node:util';
import { createKmsClient } from '../src/kms/index.js';
import { call, must } from '../test/env/http.js';
import { KmsPlugin } from '../test/env/kms.js';
import { TestEnv } from '../test/env/testenv.js';

const { values: args } = parseArgs({
  options: {
    n: { type: 'string', default: '10000' },
    concurrency: { type: 'string', default: '32' },
    rpc: { type: 'string', default: '2000' },
    rounds: { type: 'string', default: '2' },
    keep: { type: 'boolean', default: false },
  },
});
const N = Number(args.n);
const CONCURRENCY = Number(args.concurrency);
const RPCS = Number(args.rpc);
const ROUNDS = Number(args.rounds);

interface WriteRun {
  mode: string;
  seconds: number;
  perSecond: number;
  p50: number;
  p99: number;
  failures: number;
}

const quantile = (sorted: number[], q: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;

/** N creates with CONCURRENCY in flight; latency of each from the client's side. */
async function createSecrets(env: TestEnv, mode: string, ns: string, n: number): Promise<WriteRun> {
  await env.createNamespace(ns);
  const latencies: number[] = [];
  let next = 0;
  let failures = 0;
  const t0 = performance.now();
  const worker = async () => {
    for (let i = next++; i < n; i = next++) {
      const s = performance.now();
      const r = await call(env.kube, 'POST', `/api/v1/namespaces/${ns}/secrets`, {
        metadata: { name: `s-${i}` },
        stringData: {
          username: `user-${i}`,
          password: `bench-password-${i}-0123456789`,
          url: 'postgres://db:5432/app',
        },
      });
      latencies.push(performance.now() - s);
      if (r.status !== 201) failures++;
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  const seconds = (performance.now() - t0) / 1000;
  latencies.sort((a, b) => a - b);
  return {
    mode,
    seconds,
    perSecond: n / seconds,
    p50: quantile(latencies, 0.5),
    p99: quantile(latencies, 0.99),
    failures,
  };
}

async function plain(): Promise<WriteRun> {
  const env = await TestEnv.start({ keep: args.keep });
  try {
    await createSecrets(env, 'warm-up', 'warm', 1000);
    return await createSecrets(env, 'no encryption', 'bench', N);
  } finally {
    await env.stop();
  }
}

interface KmsRun {
  write: WriteRun;
  transit: Record<string, number>;
  rpcs: Record<string, number>;
  /** Since the plugin started: apiserver start-up, warm-up and the N writes. */
  total: Record<string, number>;
  encrypt: { p50: number; p99: number };
  decrypt: { p50: number; p99: number };
}

async function withKms(): Promise<KmsRun> {
  let plugin: KmsPlugin | undefined;
  const env = await TestEnv.start({
    keep: args.keep,
    beforeApiserver: async (e) => {
      const r = await KmsPlugin.setup(e);
      plugin = r.plugin;
      return r.args;
    },
  });
  const kms = plugin;
  if (kms === undefined) throw new Error('plugin not started');
  const count = async (name: string, labels: string) => kms.counter(name, labels);
  const snapshot = async () => ({
    transitEncrypt: await count('vaultsync_kms_vault_requests_total', 'operation="encrypt",status="200"'),
    transitDecrypt: await count('vaultsync_kms_vault_requests_total', 'operation="decrypt",status="200"'),
    Encrypt: await count('vaultsync_kms_rpc_total', 'method="Encrypt",code="OK"'),
    Decrypt: await count('vaultsync_kms_rpc_total', 'method="Decrypt",code="OK"'),
    Status: await count('vaultsync_kms_rpc_total', 'method="Status",code="OK"'),
  });
  try {
    await createSecrets(env, 'warm-up', 'warm', 1000);
    const before = await snapshot();
    const write = await createSecrets(env, 'KMS v2 plugin', 'bench', N);
    const after = await snapshot();
    const delta = Object.fromEntries(Object.entries(after).map(([k, v]) => [k, v - before[k as keyof typeof before]]));
    // Every write is really encrypted: one sample straight from etcd.
    const sample = await must<{ kvs?: { value: string }[] }>({ url: env.etcdClientUrl }, 'POST', '/v3/kv/range', {
      key: Buffer.from('/registry/secrets/bench/s-0').toString('base64'),
    });
    if (
      !Buffer.from(sample.body.kvs?.[0]?.value ?? '', 'base64')
        .toString('latin1')
        .startsWith('k8s:enc:kms:v2:')
    ) {
      throw new Error('bench/s-0 is not stored encrypted');
    }
    const latency = await rpcLatency(kms.socket);
    return {
      write,
      transit: { encrypt: delta.transitEncrypt ?? 0, decrypt: delta.transitDecrypt ?? 0 },
      rpcs: { Encrypt: delta.Encrypt ?? 0, Decrypt: delta.Decrypt ?? 0, Status: delta.Status ?? 0 },
      total: after,
      ...latency,
    };
  } finally {
    await env.stop();
    await kms.proc.stop();
  }
}

/** RPCS sequential Encrypts, then as many Decrypts, of 32-byte seeds (what the apiserver sends). */
async function rpcLatency(socket: string) {
  const client = createKmsClient(socket);
  const enc: number[] = [];
  const dec: number[] = [];
  const wrapped: { ciphertext: Uint8Array; key_id: string }[] = [];
  for (let i = 0; i < RPCS; i++) {
    const seed = Buffer.alloc(32, i % 256);
    const t = performance.now();
    const r = await client.encrypt({ plaintext: seed, uid: `bench-${i}` });
    enc.push(performance.now() - t);
    wrapped.push({ ciphertext: r.ciphertext, key_id: r.key_id });
  }
  for (const [i, w] of wrapped.entries()) {
    const t = performance.now();
    await client.decrypt({ ...w, uid: `bench-${i}` });
    dec.push(performance.now() - t);
  }
  client.close();
  enc.sort((a, b) => a - b);
  dec.sort((a, b) => a - b);
  return {
    encrypt: { p50: quantile(enc, 0.5), p99: quantile(enc, 0.99) },
    decrypt: { p50: quantile(dec, 0.5), p99: quantile(dec, 0.99) },
  };
}

const ms = (x: number) => `${x.toFixed(x < 10 ? 2 : 1)} ms`;

const cpu = cpus()[0]?.model ?? 'unknown CPU';
process.stderr.write(`bench:kms: N=${N}, concurrency ${CONCURRENCY}, ${cpus().length} × ${cpu}\n`);
// Alternating, so that a machine busier in one half of the run does not decide the ratio.
const plains: WriteRun[] = [];
const kmss: KmsRun[] = [];
for (let r = 0; r < ROUNDS; r++) {
  plains.push(await plain());
  kmss.push(await withKms());
}
const b = kmss[kmss.length - 1] as KmsRun;
const rows = plains.flatMap((p, r) =>
  [p, kmss[r]?.write].map((w) =>
    w === undefined
      ? ''
      : `| ${r + 1} | ${w.mode} | ${w.seconds.toFixed(1)} s | ${w.perSecond.toFixed(0)}/s | ${ms(w.p50)} | ${ms(w.p99)} | ${w.failures} |`,
  ),
);
const ratios = kmss.map((k, r) => k.write.seconds / (plains[r]?.seconds ?? NaN));
const mean = ratios.reduce((x, y) => x + y, 0) / ratios.length;
const out = [
  `N=${N} Secret creates, ${CONCURRENCY} in flight, ${cpus().length} × ${cpu}`,
  '',
  '| round | apiserver | wall time | creates/s | create p50 | create p99 | failed |',
  '| --- | --- | --- | --- | --- | --- | --- |',
  ...rows,
  '',
  `Cost of encryption at rest, KMS wall time / plain wall time of the same round: ${ratios.map((x) => `${x.toFixed(2)}×`).join(', ')} (mean ${mean.toFixed(2)}×).`,
  '',
  ...kmss.map(
    (k, r) =>
      `Round ${r + 1}, during the ${N} KMS writes: plugin calls Encrypt ${k.rpcs.Encrypt}, Decrypt ${k.rpcs.Decrypt}, ` +
      `Status ${k.rpcs.Status}; Transit requests encrypt ${k.transit.encrypt}, decrypt ${k.transit.decrypt}. ` +
      `Since the plugin started (apiserver start, ${N + 1000} writes): Encrypt ${k.total.Encrypt}, ` +
      `Decrypt ${k.total.Decrypt}, Status ${k.total.Status}; Transit encrypt ${k.total.transitEncrypt}, ` +
      `decrypt ${k.total.transitDecrypt}.`,
  ),
  '',
  `| plugin RPC (${RPCS} sequential, over the socket, Transit on loopback; last round) | p50 | p99 |`,
  '| --- | --- | --- |',
  `| Encrypt (32-byte seed) | ${ms(b.encrypt.p50)} | ${ms(b.encrypt.p99)} |`,
  `| Decrypt | ${ms(b.decrypt.p50)} | ${ms(b.decrypt.p99)} |`,
];
process.stdout.write(`${out.join('\n')}\n`);
