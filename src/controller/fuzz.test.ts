import { Priority } from '../scheduler/index.js';
/**
 * Fuzzing reconcile(): thousands of seeded random (SecretSync spec × Vault answer × API-server
 * behaviour) combinations, run against the in-memory fakes, checking the invariants that must hold
 * whatever the input:
 *
 * - reconcile either returns or throws a SyncError whose reason is in the catalog (never anything else);
 * - every Secret written carries exactly the requested keys (spec.data's secretKeys, or every Vault key)
 *   with their rendered values: never a partial Secret, never a stray key;
 * - a Secret reconcile does not own is never written or deleted;
 * - no canary planted in Vault values or in errors' texts reaches logs, events, status, metrics or
 *   an error message.
 *
 * A failure prints the seed and iteration, which replay it exactly.
 */
import { describe, expect, it } from 'vitest';
import type { SecretSync } from '../api/index.js';
import { SyncError, reasons } from '../errors.js';
import { fakeDeps, secretSync, KEY, NS } from './testing/fakes.js';
import { reconcile } from './reconcile.js';
import { renderValue } from '../render/render.js';
import { MANAGED_BY_LABEL, OWNER_ANNOTATION, VAULT_VERSION_ANNOTATION, type SecretObject } from './types.js';

const SEED = 0x5eed_2026;
const ITERATIONS = 3_000;
const CANARY = 'FUZZ-CANARY-4d1c0a9b';
const CANARY_FORMS = [CANARY, Buffer.from(CANARY).toString('base64'), Buffer.from(CANARY).toString('base64url')];

/** mulberry32: small, fast, and the same sequence for the same seed everywhere. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Rng = () => number;
const pick = <T>(rng: Rng, xs: readonly T[]): T => xs[Math.floor(rng() * xs.length)] as T;
const chance = (rng: Rng, p: number) => rng() < p;

/** Valid Secret keys, tricky ones among them (prototype names, not env var names). */
const GOOD_KEYS = [
  'password',
  'user',
  'API_KEY',
  'tls.crt',
  'with-dash',
  '1abc',
  '__proto__',
  'constructor',
  'toString',
  'hasOwnProperty',
  'k'.repeat(253),
];
/** Keys that cannot be Secret keys. */
const BAD_KEYS = ['', '.', '..', '..data', 'a b', 'a/b', 'é', 'k'.repeat(254), 'x\u0000y'];
const randomKey = (rng: Rng) => (chance(rng, 0.9) ? pick(rng, GOOD_KEYS) : pick(rng, BAD_KEYS));

function randomValue(rng: Rng, depth = 0): unknown {
  const r = rng();
  if (r < 0.3) return `${CANARY}-${Math.floor(rng() * 1000)}`;
  if (r < 0.38) return '';
  if (r < 0.45) return Math.floor(rng() * 1e6) - 5e5;
  if (r < 0.48) return pick(rng, [Number.NaN, Infinity, -Infinity, 1e308, -0, 0.1]);
  if (r < 0.53) return chance(rng, 0.5);
  if (r < 0.57) return null;
  if (r < 0.6) return undefined;
  if (r < 0.62) return BigInt(7);
  if (r < 0.63) return Symbol('s');
  if (r < 0.64) return () => CANARY;
  if (r < 0.645) return `${CANARY}${'z'.repeat(1_100_000)}`; // over the Secret size limit on its own
  if (r < 0.67) return '\u0000\u00ff\ud800 binary-ish';
  if (depth > 2) return 'deep';
  if (r < 0.8) {
    const obj: Record<string, unknown> = {};
    for (let i = Math.floor(rng() * 4); i > 0; i--) obj[randomKey(rng)] = randomValue(rng, depth + 1);
    return obj;
  }
  if (r < 0.82) {
    const cyclic: Record<string, unknown> = { canary: CANARY };
    cyclic.self = cyclic;
    return cyclic;
  }
  return Array.from({ length: Math.floor(rng() * 4) }, () => randomValue(rng, depth + 1));
}

/** Vault data as JSON.parse would build it: own properties, even for `__proto__`. */
function randomData(rng: Rng): Record<string, unknown> {
  const entries: [string, unknown][] = [];
  for (let i = Math.floor(rng() * 6); i > 0; i--) entries.push([randomKey(rng), randomValue(rng)]);
  return Object.fromEntries(entries);
}

function randomError(rng: Rng): unknown {
  const r = rng();
  const reason = pick(rng, Object.keys(reasons) as (keyof typeof reasons)[]);
  if (r < 0.4)
    return new SyncError(reason, `fake failure (${reason})`, {
      status: pick(rng, [undefined, 403, 404, 409, 429, 500]),
    });
  if (r < 0.6) return new Error(`driver failed near "${CANARY}"`);
  if (r < 0.75)
    return Object.assign(new TypeError(CANARY), { stack: `TypeError: ${CANARY}\n    at x (driver.js:1:1)` });
  if (r < 0.85) return `${CANARY} thrown as a string`;
  if (r < 0.95) return { message: CANARY, token: CANARY };
  return undefined;
}

function randomSpec(rng: Rng): (s: SecretSync) => void {
  return (s) => {
    if (chance(rng, 0.6)) {
      const items = Array.from({ length: 1 + Math.floor(rng() * 4) }, () => ({
        secretKey: randomKey(rng),
        property: randomKey(rng),
      }));
      s.spec.data = items;
    }
    if (chance(rng, 0.1)) delete s.spec.auth.kubernetes.serviceAccountName;
    if (chance(rng, 0.2)) s.spec.target.immutable = true;
    if (chance(rng, 0.15)) s.spec.target.name = pick(rng, ['other', 'myapp', 'taken', 'foreign']);
    if (chance(rng, 0.1)) s.spec.target.type = pick(rng, ['kubernetes.io/tls', 'Opaque', 'x/y']); // x/y: not allowed
    if (chance(rng, 0.1)) s.spec.target.deletionPolicy = 'Retain';
    if (chance(rng, 0.1)) s.spec.target.labels = { [MANAGED_BY_LABEL]: 'someone-else', team: 'a' };
    if (chance(rng, 0.1)) s.spec.target.annotations = { [OWNER_ANNOTATION]: `${NS}/forged` };
    if (chance(rng, 0.1)) s.spec.refresh.interval = pick(rng, ['30s', '1h', 'soon', '0s', '1e9h']);
    if (chance(rng, 0.05)) s.spec.vault.kv!.version = pick(rng, [1, 2, 0, -1, 1.5]);
  };
}

/** Errors, values and stacks serialized so that nothing inside them hides from the canary search. */
function reveal(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) => {
    if (v instanceof Error) return { name: v.name, message: v.message, stack: v.stack };
    if (typeof v === 'bigint' || typeof v === 'symbol' || typeof v === 'function') return String(v);
    return v;
  });
}

interface Outcome {
  thrown: unknown[];
  problems: string[];
  /** Secrets created or updated. */
  written: number;
}

async function runOne(seed: number, iteration: number): Promise<Outcome> {
  const rng = prng(seed ^ Math.imul(iteration + 1, 0x9e3779b1));
  const h = fakeDeps({ allowControllerIdentity: chance(rng, 0.3) });
  const spec = randomSpec(rng);
  h.syncs.set(secretSync(spec));
  const problems: string[] = [];
  const thrown: unknown[] = [];

  // Secrets already there: ours from an earlier run, someone else's, another SecretSync's.
  const foreign: SecretObject = { metadata: { name: 'foreign', namespace: NS }, type: 'Opaque', data: { x: 'eA==' } };
  h.store.seed(foreign);
  const otherOwner = chance(rng, 0.3);
  if (otherOwner) {
    h.store.seed({
      metadata: {
        name: 'taken',
        namespace: NS,
        labels: { [MANAGED_BY_LABEL]: 'vaultsync' },
        annotations: { [OWNER_ANNOTATION]: `${NS}/other` },
      },
      type: 'Opaque',
      data: {},
    });
  }

  // The API server fails now and then, with any kind of error.
  const flaky =
    <A extends unknown[], R>(fn: (...a: A) => Promise<R>) =>
    (...a: A): Promise<R> => {
      if (chance(rng, 0.08)) {
        const err = randomError(rng);
        // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- what a broken dependency may do
        return Promise.reject(
          err instanceof SyncError || chance(rng, 0.5)
            ? err
            : new SyncError('KubernetesApiError', 'x', { status: 500 }),
        );
      }
      return fn(...a);
    };
  const store = h.store;
  store.create = flaky(store.create.bind(store));
  store.update = flaky(store.update.bind(store));
  store.delete = flaky(store.delete.bind(store));
  store.get = flaky(store.get.bind(store));
  if (chance(rng, 0.1)) store.notYetCached.add(`${NS}/myapp`);

  const versions = new Map<number, Record<string, unknown>>();
  let version = 0;
  const setVault = () => {
    version += 1;
    if (chance(rng, 0.15)) {
      h.vault.fail('secret/myapp/config', randomError(rng));
      return;
    }
    const data = randomData(rng);
    versions.set(version, data);
    h.vault.put('secret/myapp/config', data, version);
  };

  const runs = 1 + Math.floor(rng() * 3);
  for (let i = 0; i < runs; i++) {
    setVault();
    try {
      await reconcile({ key: KEY, priority: Priority.New, fresh: false }, h.deps, new AbortController().signal);
    } catch (err) {
      thrown.push(err);
      if (!(err instanceof SyncError)) problems.push(`threw a non-SyncError: ${reveal(err)}`);
      else if (!Object.hasOwn(reasons, err.reason)) problems.push(`threw an unknown reason ${err.reason}`);
    }
  }

  const sync = h.syncs.get(KEY);
  for (const w of store.writes) {
    if (w.op === 'delete') {
      if (w.name === 'foreign' || (otherOwner && w.name === 'taken'))
        problems.push(`deleted ${w.name}, which it does not own`);
      continue;
    }
    const s = w.secret;
    if (s.metadata.name === 'foreign' || (otherOwner && s.metadata.name === 'taken'))
      problems.push(`wrote ${s.metadata.name}`);
    const v = Number(s.metadata.annotations?.[VAULT_VERSION_ANNOTATION]);
    const data = versions.get(v);
    if (data === undefined || sync === undefined) {
      problems.push(`wrote a Secret from Vault version ${v}, which was never a readable answer`);
      continue;
    }
    const picks = sync.spec.data ?? Object.keys(data).map((k) => ({ secretKey: k, property: k }));
    const want = new Map(picks.map((p) => [p.secretKey, p.property]));
    const got = Object.keys(s.data);
    if (got.length !== want.size || got.some((k) => !want.has(k))) {
      problems.push(`wrote keys [${got.join(',')}] for requested [${[...want.keys()].join(',')}]`);
      continue;
    }
    for (const [key, property] of want) {
      // Bytes, not strings: a lone surrogate is written as U+FFFD by UTF-8, as it should be.
      const bytes = Buffer.from(s.data[key] ?? '', 'base64');
      if (!bytes.equals(Buffer.from(renderValue(data[property], property, 'fuzz'), 'utf8'))) {
        problems.push(`wrote a wrong value for ${key}`);
      }
    }
  }

  const reported = reveal({
    status: h.syncs.statusWrites,
    events: h.events,
    logs: h.logs,
    metrics: h.metrics,
    errors: thrown.map((e) => (e instanceof Error ? { message: e.message, stack: e.stack } : e)),
  });
  for (const form of CANARY_FORMS) {
    const at = reported.indexOf(form);
    if (at >= 0)
      problems.push(`canary (${form.slice(0, 8)}…) reported: …${reported.slice(Math.max(0, at - 160), at + 40)}…`);
  }
  return { thrown, problems, written: store.writes.filter((w) => w.op !== 'delete').length };
}

describe('reconcile fuzz', () => {
  it(`holds its invariants over ${ITERATIONS} random inputs (seed ${SEED})`, async () => {
    const failures: string[] = [];
    const reasonsSeen = new Set<string>();
    let writes = 0;
    for (let i = 0; i < ITERATIONS; i++) {
      const { thrown, problems, written } = await runOne(SEED, i);
      for (const e of thrown) if (e instanceof SyncError) reasonsSeen.add(e.reason);
      writes += written;
      for (const p of problems) failures.push(`seed ${SEED} iteration ${i}: ${p}`);
      if (failures.length > 20) break;
    }
    expect(failures).toEqual([]);
    // The inputs reach far: most failure reasons came up, so the invariants were checked on them.
    for (const r of [
      'BadVaultData',
      'PropertyNotFound',
      'InvalidSecretKey',
      'InvalidSpec',
      'SecretTooLarge',
      'SecretConflict',
      'KubernetesApiError',
    ]) {
      expect(reasonsSeen, r).toContain(r);
    }
    // ...and Secrets were written, so the no-partial-write checks ran on real writes.
    expect(writes).toBeGreaterThan(ITERATIONS / 10);
  }, 120_000);
});
