import { describe, expect, it } from 'vitest';
import { check, checkOnce, parseCheckArgs, UsageError, type CheckReader } from './check.js';

const NOW = new Date('2026-01-01T00:00:00Z');

function reader(over: Partial<CheckReader> = {}): CheckReader {
  return {
    crdConditions: () => Promise.resolve([{ type: 'Established', status: 'True' }]),
    deploymentReplicas: () => Promise.resolve({ desired: 2, ready: 2 }),
    lease: () => Promise.resolve({ holder: 'vaultsync-abc', renewTime: new Date(NOW.getTime() - 3_000) }),
    ...over,
  };
}

const opts = parseCheckArgs(['--deployment=vs/vaultsync', '--lease', 'vs/vaultsync-leader']);

describe('parseCheckArgs', () => {
  it('reads the flags, with defaults', () => {
    expect(opts).toEqual({
      crd: 'secretsyncs.vaultsync.io',
      deployment: { namespace: 'vs', name: 'vaultsync' },
      lease: { namespace: 'vs', name: 'vaultsync-leader' },
      leaseDurationMs: 15_000,
      timeoutMs: 60_000,
      kubeconfig: undefined,
    });
    expect(parseCheckArgs(['--timeout=2m', '--lease-duration=20s']).timeoutMs).toBe(120_000);
  });

  it.each([
    [['--deployment=vaultsync'], '--deployment must be <namespace>/<name>'],
    [['--timeout=soon'], '--timeout must be a duration'],
    [['--crd'], 'flag --crd needs a value'],
    [['--crd=a', '--crd=b'], 'given twice'],
    [['--colour'], 'unknown flag --colour'],
    [['stray'], 'unexpected argument'],
  ])('refuses %j', (argv, message) => {
    expect(() => parseCheckArgs(argv)).toThrow(UsageError);
    expect(() => parseCheckArgs(argv)).toThrow(message);
  });
});

describe('checkOnce', () => {
  it('passes when the CRD is established, a replica is ready and the Lease is fresh', async () => {
    expect(await checkOnce(opts, reader(), NOW)).toEqual([
      { ok: true, line: 'CRD secretsyncs.vaultsync.io: established' },
      { ok: true, line: 'Deployment vs/vaultsync: 2 of 2 replicas ready' },
      { ok: true, line: 'Lease vs/vaultsync-leader: held by vaultsync-abc, renewed 3s ago' },
    ]);
  });

  it.each([
    [{ crdConditions: () => Promise.resolve([{ type: 'Established', status: 'False' }]) }, 'not established'],
    [{ deploymentReplicas: () => Promise.resolve({ desired: 2, ready: 0 }) }, '0 of 2 replicas ready'],
    [{ lease: () => Promise.resolve({ holder: '' }) }, 'no leader'],
    [
      { lease: () => Promise.resolve({ holder: 'old', renewTime: new Date(NOW.getTime() - 60_000) }) },
      'renewed 60s ago (stale)',
    ],
    [{ deploymentReplicas: () => Promise.reject(new Error('deployments "vaultsync" not found')) }, 'not found'],
  ] as [Partial<CheckReader>, string][])('fails one check: %#', async (over, message) => {
    const results = await checkOnce(opts, reader(over), NOW);
    expect(results.filter((r) => !r.ok).map((r) => r.line)).toEqual([expect.stringContaining(message)]);
  });

  it('checks only the CRD when no Deployment or Lease is named', async () => {
    expect(await checkOnce(parseCheckArgs([]), reader(), NOW)).toHaveLength(1);
  });
});

describe('check', () => {
  it('retries until every check passes', async () => {
    let calls = 0;
    const r = reader({
      deploymentReplicas: () => Promise.resolve({ desired: 1, ready: ++calls >= 3 ? 1 : 0 }),
    });
    let t = NOW.getTime();
    const clock = { now: () => new Date(t), sleep: (ms: number) => Promise.resolve(void (t += ms)) };
    const results = await check(opts, r, clock);
    expect(results.every((x) => x.ok)).toBe(true);
    expect(calls).toBe(3);
  });

  it('gives up at the timeout with the last results', async () => {
    let t = NOW.getTime();
    const clock = { now: () => new Date(t), sleep: (ms: number) => Promise.resolve(void (t += ms)) };
    const results = await check(
      { ...opts, timeoutMs: 10_000 },
      reader({ deploymentReplicas: () => Promise.resolve({ desired: 1, ready: 0 }) }),
      clock,
    );
    expect(results.some((x) => !x.ok)).toBe(true);
    expect(t - NOW.getTime()).toBeLessThanOrEqual(10_000);
  });
});
