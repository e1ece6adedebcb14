/* Helpers for the tests of src/vault: readers built by createVaultReader against a FakeVaultServer. */
import type { ServiceAccountTokenSource, VaultIdentity } from '../types.js';
import { recordingLogger, type RecordingLogger } from '../../core/testing/logger.js';
import { afterEach, beforeEach } from 'vitest';
import { FakeVaultServer } from './fake-vault.js';
import {
  createCountingVaultMetrics,
  createVaultReader,
  type ClosableVaultReader,
  type VaultReaderConfig,
} from '../index.js';

export const baseConfig: VaultReaderConfig = {
  requestTimeoutMs: 2000,
  readCacheTtlMs: 5000,
  requestsPerSecond: 10_000,
  maxInFlight: 1000,
  loginsPerSecond: 10_000,
  tokenPath: '/var/run/secrets/kubernetes.io/serviceaccount/token',
  allowedAddresses: [],
};

export function fakeClock(start = 1_700_000_000_000) {
  let t = start;
  return {
    now: () => t,
    advance(ms: number) {
      t += ms;
    },
  };
}

/** Hands out `jwt-<namespace>-<name>-<n>` and records each request. */
export function fakeTokenSource(): ServiceAccountTokenSource & {
  calls: { sa: { namespace: string; name: string }; audiences: readonly string[] }[];
} {
  const calls: { sa: { namespace: string; name: string }; audiences: readonly string[] }[] = [];
  return {
    calls,
    request(sa, audiences) {
      calls.push({ sa, audiences });
      return Promise.resolve({ token: `jwt-${sa.namespace}-${sa.name}-${calls.length}`, expiresAt: 0 });
    },
  };
}

export function makeIdentity(address: string, overrides: Partial<VaultIdentity> = {}): VaultIdentity {
  return {
    address,
    authMount: 'kubernetes',
    role: 'app-read',
    serviceAccount: { namespace: 'team-a', name: 'app' },
    audiences: ['vault'],
    ...overrides,
  };
}

export interface Harness {
  reader: ClosableVaultReader;
  clock: ReturnType<typeof fakeClock>;
  logger: RecordingLogger;
  metrics: ReturnType<typeof createCountingVaultMetrics>;
  tokens: ReturnType<typeof fakeTokenSource>;
  id: (overrides?: Partial<VaultIdentity>) => VaultIdentity;
}

/** A reader against `fake`; the caller closes it (see `closeAll`). */
export function harness(
  fake: FakeVaultServer,
  opts: { config?: Partial<VaultReaderConfig>; readFile?: (path: string) => Promise<string> } = {},
): Harness {
  const clock = fakeClock();
  const logger = recordingLogger();
  const metrics = createCountingVaultMetrics();
  const tokens = fakeTokenSource();
  const reader = createVaultReader({
    // The fake's own address is allowed unless the test says otherwise.
    config: { ...baseConfig, allowedAddresses: [fake.url], ...opts.config },
    tokens,
    readFile:
      opts.readFile ?? ((path) => Promise.reject(Object.assign(new Error(`ENOENT ${path}`), { code: 'ENOENT' }))),
    clock,
    log: logger,
    metrics,
  });
  return { reader, clock, logger, metrics, tokens, id: (overrides) => makeIdentity(fake.url, overrides) };
}

/** The rejection of `promise`, failing the test if it resolves. */
export async function rejection(promise: Promise<unknown>): Promise<Error & Record<string, unknown>> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof Error) return err as Error & Record<string, unknown>;
    throw new Error('rejected with a non-Error', { cause: err });
  }
  throw new Error('expected a rejection');
}

/**
 * A fresh fake Vault for every test (seeded by `seed`), and `setup()` readers against it; both
 * are closed after each test.
 */
export function fakeVaultPerTest(seed: (fake: FakeVaultServer) => void): {
  readonly fake: FakeVaultServer;
  setup: (opts?: Parameters<typeof harness>[1]) => Harness;
} {
  let current: FakeVaultServer | undefined;
  const open: Harness[] = [];
  const fake = (): FakeVaultServer => {
    if (current === undefined) throw new Error('the fake Vault runs only inside a test');
    return current;
  };
  beforeEach(async () => {
    current = await new FakeVaultServer().start();
    seed(current);
  });
  afterEach(async () => {
    await Promise.all(open.splice(0).map((h) => h.reader.close()));
    await current?.close();
    current = undefined;
  });
  return {
    get fake() {
      return fake();
    },
    setup: (opts) => {
      const h = harness(fake(), opts);
      open.push(h);
      return h;
    },
  };
}
