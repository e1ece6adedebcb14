import { describe, expect, it } from 'vitest';
import { keyOf } from '../core/types.js';
import { recordingLogger } from '../core/testing/logger.js';
import { SyncError } from '../errors.js';
import type { SchedulerClock } from '../scheduler/index.js';
import { RESTART_DIGEST_ANNOTATION, RESTARTED_AT_ANNOTATION, RolloutRestarter, restartDigest } from './rollout.js';
import { FakeSyncs, HASH_KEY, secretSync } from './testing/fakes.js';
import type { WorkloadRef } from './types.js';

/** A clock whose timers run only when the test advances it. */
function manualClock(start = Date.parse('2025-01-01T00:00:00Z')) {
  let t = start;
  const timers = new Set<{ at: number; fn: () => void }>();
  const clock: SchedulerClock = {
    now: () => t,
    setTimeout: (fn, ms) => {
      const h = { at: t + ms, fn };
      timers.add(h);
      return h;
    },
    clearTimeout: (h) => timers.delete(h as { at: number; fn: () => void }),
  };
  const advance = async (ms: number) => {
    t += ms;
    for (const h of [...timers].sort((a, b) => a.at - b.at)) {
      if (h.at <= t) {
        timers.delete(h);
        h.fn();
      }
    }
    for (let i = 0; i < 10; i++) await Promise.resolve();
  };
  return { clock, advance };
}

function setup(answer: (ref: WorkloadRef) => 'patched' | 'missing' | Error = () => 'patched') {
  const { clock, advance } = manualClock();
  const patches: { ref: WorkloadRef; annotations: Record<string, string> }[] = [];
  const events: { key: string; type: string; reason: string; message: string }[] = [];
  const syncs = new FakeSyncs();
  const a = secretSync((s) => {
    s.metadata.name = 'a';
    s.spec.rolloutRestartTargets = [{ kind: 'Deployment', name: 'web' }];
  });
  const b = secretSync((s) => {
    s.metadata.name = 'b';
    s.spec.rolloutRestartTargets = [
      { kind: 'Deployment', name: 'web' },
      { kind: 'StatefulSet', name: 'db' },
    ];
  });
  syncs.set(a);
  syncs.set(b);
  const restarter = new RolloutRestarter({
    patcher: {
      patchTemplateAnnotations: (ref, annotations) => {
        patches.push({ ref, annotations });
        const r = answer(ref);
        return r instanceof Error ? Promise.reject(r) : Promise.resolve(r);
      },
    },
    events: { record: (s, type, reason, message) => events.push({ key: keyOf(s), type, reason, message }) },
    syncs,
    clock,
    log: recordingLogger(),
    hashKey: HASH_KEY,
    windowMs: 2000,
  });
  return { restarter, patches, events, advance, a, b };
}

describe('RolloutRestarter', () => {
  it('two SecretSyncs feeding one Deployment within the window: one patch of it', async () => {
    const h = setup();
    h.restarter.noteChange(h.a, 'd1');
    await h.advance(900);
    h.restarter.noteChange(h.b, 'd2');
    await h.advance(1099);
    expect(h.patches).toEqual([]);
    await h.advance(1);
    expect(h.patches.map((p) => `${p.ref.kind}/${p.ref.name}`).sort()).toEqual(['Deployment/web']);
    await h.advance(900); // b's StatefulSet: its own window, opened by b's change
    expect(h.patches.map((p) => `${p.ref.kind}/${p.ref.name}`).sort()).toEqual(['Deployment/web', 'StatefulSet/db']);
    const web = h.patches[0]!.annotations;
    expect(Object.keys(web).sort()).toEqual([RESTART_DIGEST_ANNOTATION, RESTARTED_AT_ANNOTATION].sort());
    expect(web[RESTARTED_AT_ANNOTATION]).toBe('2025-01-01T00:00:02Z');
    const changes = new Map([
      ['team-a/a', 'd1'],
      ['team-a/b', 'd2'],
    ]);
    expect(web[RESTART_DIGEST_ANNOTATION]).toBe(
      restartDigest(HASH_KEY, { namespace: 'team-a', kind: 'Deployment', name: 'web' }, changes),
    );
    expect(h.events.filter((e) => e.reason === 'RolloutRestarted').map((e) => e.key)).toEqual([
      'team-a/a',
      'team-a/b',
      'team-a/b',
    ]);
  });

  it('the same content again restarts nothing; new content does', async () => {
    const h = setup();
    h.restarter.noteChange(h.a, 'd1');
    await h.advance(2000);
    h.restarter.noteChange(h.a, 'd1');
    await h.advance(2000);
    expect(h.patches).toHaveLength(1);
    h.restarter.noteChange(h.a, 'd3');
    await h.advance(2000);
    expect(h.patches).toHaveLength(2);
  });

  it('a missing workload is a Warning event, and nothing is retried', async () => {
    const h = setup(() => 'missing');
    h.restarter.noteChange(h.a, 'd1');
    await h.advance(2000);
    await h.advance(60_000);
    expect(h.patches).toHaveLength(1);
    expect(h.events).toEqual([
      {
        key: 'team-a/a',
        type: 'Warning',
        reason: 'RolloutTargetNotFound',
        message: 'Deployment web not found in namespace team-a; nothing was restarted (spec.rolloutRestartTargets)',
      },
    ]);
  });

  it('a failing patch is tried three times, then reported', async () => {
    const h = setup(() => new SyncError('KubernetesApiError', 'forbidden', { status: 403 }));
    h.restarter.noteChange(h.a, 'd1');
    await h.advance(2000);
    await h.advance(5000);
    await h.advance(5000);
    await h.advance(60_000);
    expect(h.patches).toHaveLength(3);
    expect(h.events.map((e) => e.reason)).toEqual(['RolloutRestartFailed']);
    expect(h.events[0]?.message).toContain('(HTTP 403)');
  });

  it('stop drops what waits in the window', async () => {
    const h = setup();
    h.restarter.noteChange(h.a, 'd1');
    await h.restarter.stop();
    await h.advance(5000);
    h.restarter.noteChange(h.a, 'd2');
    await h.advance(5000);
    expect(h.patches).toEqual([]);
  });
});
