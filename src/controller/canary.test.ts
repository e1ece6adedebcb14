import { Priority } from '../scheduler/index.js';
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { SecretSync } from '../api/index.js';
import { SyncError } from '../errors.js';
import { fakeDeps, secretSync, KEY, NS } from './testing/fakes.js';
import { reconcile } from './reconcile.js';
import { MANAGED_BY_LABEL, OWNER_ANNOTATION } from './types.js';

const CANARY = 'CANARY-9f8e7d-do-not-leak';
const forms = [
  CANARY,
  Buffer.from(CANARY).toString('base64'),
  Buffer.from(CANARY).toString('base64url'),
  createHash('sha256').update(CANARY).digest('hex'),
  createHash('sha256').update(CANARY).digest('base64'),
];

type Harness = ReturnType<typeof fakeDeps>;

/** Scenarios that between them take every path that reports something. */
const scenarios: Record<string, (h: Harness) => void> = {
  'created, then unchanged': () => undefined,
  'updated after a hand edit': (h) => {
    h.store.edit(NS, 'myapp', (s) => {
      s.data.extra = 'eA==';
    });
  },
  'new version with a key that is not an env var name': (h) => {
    h.vault.put('secret/myapp/config', { 'tls.key': CANARY, password: CANARY }, 2);
  },
  'missing property next to the canary': (h) => {
    const s = h.syncs.get(KEY)!;
    s.spec.data = [
      { secretKey: 'P', property: 'password' },
      { secretKey: 'Q', property: 'nope' },
    ];
    h.syncs.set(s);
  },
  'invalid Vault key whose value is the canary': (h) => {
    h.vault.put('secret/myapp/config', { 'bad key': CANARY }, 3);
  },
  'too large with the canary inside': (h) => {
    h.vault.put('secret/myapp/config', { password: CANARY, pad: 'y'.repeat(1_100_000) }, 4);
  },
  'a type change forces replacement': (h) => {
    const s = h.syncs.get(KEY)!;
    s.spec.target.type = 'kubernetes.io/basic-auth';
    h.syncs.set(s);
  },
  'Vault throws an unknown error quoting the canary': (h) => {
    h.vault.fail('secret/myapp/config', new Error(`decode failed near "${CANARY}"`));
  },
  'Vault throws a TypeError whose message and stack quote the canary': (h) => {
    h.vault.fail('secret/myapp/config', Object.assign(new TypeError(CANARY), { stack: `TypeError: ${CANARY}\n at x` }));
  },
  'conflict with a Secret owned by another SecretSync': (h) => {
    h.store.edit(NS, 'myapp', (s) => {
      s.metadata.labels = { ...s.metadata.labels, [MANAGED_BY_LABEL]: 'vaultsync' };
      s.metadata.annotations = { ...s.metadata.annotations, [OWNER_ANNOTATION]: `${NS}/other` };
    });
  },
  deleted: (h) => h.syncs.items.delete(KEY),
};

describe('secret values never leak', () => {
  it.each(Object.entries(scenarios))('%s', async (_name, change) => {
    const h = fakeDeps();
    h.syncs.set(secretSync((s: SecretSync) => (s.spec.target.labels = { app: 'x' })));
    h.vault.put('secret/myapp/config', { password: CANARY }, 1);
    const errors: unknown[] = [];
    const run = () =>
      reconcile({ key: KEY, priority: Priority.New, fresh: false }, h.deps, new AbortController().signal).catch(
        (e: unknown) => {
          errors.push(e);
        },
      );
    await run();
    change(h);
    await run();
    await run();

    const reported = JSON.stringify({
      status: h.syncs.statusWrites,
      events: h.events,
      logs: h.logs,
      metrics: h.metrics,
      errors: errors.map((e) =>
        e instanceof SyncError ? { reason: e.reason, message: e.message, stack: e.stack } : e,
      ),
    });
    for (const form of forms) expect(reported).not.toContain(form);
    // The canary did reach the Secret, so the check above is not vacuous.
    expect(JSON.stringify([...h.store.live.values(), ...h.store.writes])).toContain(forms[1]);
  });
});
