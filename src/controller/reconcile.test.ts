import { Priority, type Request } from '../scheduler/index.js';
import { describe, expect, it } from 'vitest';
import { SyncError } from '../errors.js';
import { fakeDeps, decoded, secretSync, KEY, NS } from './testing/fakes.js';
import { reconcile } from './reconcile.js';
import {
  DELETION_POLICY_ANNOTATION,
  HASH_ANNOTATION,
  MANAGED_BY_LABEL,
  OWNER_ANNOTATION,
  VAULT_VERSION_ANNOTATION,
} from './types.js';
import type { SecretSync } from '../api/index.js';

type Harness = ReturnType<typeof fakeDeps>;

function setup(edit?: (s: SecretSync) => void, data: Record<string, unknown> = { password: 'hunter2' }, settings = {}) {
  const h = fakeDeps(settings);
  h.syncs.set(secretSync(edit));
  h.vault.put('secret/myapp/config', data, 1);
  return h;
}

const request = (key: string, over: Partial<Request> = {}): Request => ({
  key,
  priority: Priority.New,
  fresh: false,
  ...over,
});
const run = (h: Harness, key = KEY, over: Partial<Request> = {}) =>
  reconcile(request(key, over), h.deps, new AbortController().signal);

async function runFailing(h: Harness, key = KEY): Promise<SyncError> {
  const err: unknown = await run(h, key).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(SyncError);
  return err as SyncError;
}

const ready = (h: Harness) => h.syncs.get(KEY)?.status?.conditions?.find((c) => c.type === 'Ready');

describe('reconcile: rendering', () => {
  const cases: {
    name: string;
    edit?: (s: SecretSync) => void;
    vault: Record<string, unknown>;
    want: Record<string, string>;
  }[] = [
    {
      name: 'picks and renames properties',
      edit: (s) => {
        s.spec.data = [
          { secretKey: 'DB_PASS', property: 'database_password' },
          { secretKey: 'API_KEY', property: 'api_key' },
        ];
      },
      vault: { database_password: 'pw1', api_key: 'k1', unrelated: 'not copied' },
      want: { DB_PASS: 'pw1', API_KEY: 'k1' },
    },
    {
      name: 'copies every key when spec.data is absent',
      vault: { user: 'admin', password: 'pw', 'tls.crt': 'CERT' },
      want: { user: 'admin', password: 'pw', 'tls.crt': 'CERT' },
    },
    {
      name: 'renders non-string values as JSON text',
      vault: { n: 42, f: 3.5, yes: true, nothing: null, obj: { a: 1, b: [1, 2] }, arr: [1, 'x'], utf8: 'pässwörd ✓' },
      want: {
        n: '42',
        f: '3.5',
        yes: 'true',
        nothing: 'null',
        obj: '{"a":1,"b":[1,2]}',
        arr: '[1,"x"]',
        utf8: 'pässwörd ✓',
      },
    },
  ];
  it.each(cases)('$name', async ({ edit, vault, want }) => {
    const h = setup(edit, vault);
    await run(h);
    const secret = h.store.current(NS, 'myapp');
    expect(decoded(secret)).toEqual(want);
    expect(h.store.writes.map((w) => w.op)).toEqual(['create']);
    expect(ready(h)).toMatchObject({
      status: 'True',
      reason: 'Synced',
      message: 'Secret myapp matches Vault version 1',
    });
  });

  const failures: {
    name: string;
    edit?: (s: SecretSync) => void;
    vault: Record<string, unknown>;
    reason: string;
    message: RegExp;
  }[] = [
    {
      name: 'a missing property fails the whole sync',
      edit: (s) => {
        s.spec.data = [
          { secretKey: 'A', property: 'present' },
          { secretKey: 'B', property: 'absent_prop' },
        ];
      },
      vault: { present: 'v' },
      reason: 'PropertyNotFound',
      message: /"absent_prop".*secret\/myapp\/config version 2/,
    },
    {
      name: 'a Vault key that cannot be a Secret key fails all-keys mode',
      vault: { good: 'v', 'bad key/x': 'v' },
      reason: 'InvalidSecretKey',
      message: /"bad key\/x"/,
    },
    {
      name: 'a Secret type the operator did not allow is refused',
      edit: (s) => {
        s.spec.target.type = 'helm.sh/release.v1';
      },
      vault: { present: 'v' },
      reason: 'InvalidSpec',
      message: /helm\.sh\/release\.v1.*is not allowed.*--allowed-secret-types/,
    },
    {
      name: 'a Secret over 1 MiB is refused',
      vault: { big: 'x'.repeat(800_000) },
      reason: 'SecretTooLarge',
      message: /about 10\d{5} bytes.*1048576/,
    },
  ];
  it.each(failures)('$name, writes nothing and keeps the existing Secret', async ({ edit, vault, reason, message }) => {
    const h = setup(undefined, { present: 'old', good: 'old' });
    await run(h);
    const before = h.store.current(NS, 'myapp');
    const sync = h.syncs.get(KEY)!;
    edit?.(sync);
    h.syncs.set(sync);
    h.vault.put('secret/myapp/config', vault, 2);

    const err = await runFailing(h);

    expect(err.reason).toBe(reason);
    expect(err.message).toMatch(message);
    expect(h.store.writes.map((w) => w.op)).toEqual(['create']); // only the first, good sync
    expect(h.store.current(NS, 'myapp')).toEqual(before);
    expect(ready(h)).toMatchObject({ status: 'False', reason, message: err.message });
    expect(h.events.at(-1)).toMatchObject({ type: 'Warning', reason, message: err.message });
  });

  it('warns once about keys that are not env var names, not on every refresh', async () => {
    const h = setup(undefined, { 'tls.crt': 'c', GOOD: 'g' });
    await run(h);
    await run(h);
    const warnings = h.events.filter((e) => e.reason === 'KeysNotEnvVarNames');
    expect(warnings).toHaveLength(1);
    expect(warnings[0]!.message).toContain('tls.crt');
    expect(warnings[0]!.message).not.toContain('GOOD');
  });
});

describe('reconcile: the desired Secret', () => {
  it('carries our labels and annotations over the spec’s, and an owner reference for Delete', async () => {
    const h = setup((s) => {
      s.spec.target.labels = { team: 'a', [MANAGED_BY_LABEL]: 'someone-else' };
      s.spec.target.annotations = { note: 'x', [OWNER_ANNOTATION]: 'other/forged', [HASH_ANNOTATION]: 'forged' };
      s.spec.target.type = 'kubernetes.io/basic-auth';
    });
    h.vault.put('secret/myapp/config', { username: 'u', password: 'p' }, 7);
    await run(h);
    const secret = h.store.current(NS, 'myapp')!;
    expect(secret.type).toBe('kubernetes.io/basic-auth');
    expect(secret.immutable).toBe(false);
    expect(secret.metadata.labels).toEqual({ team: 'a', [MANAGED_BY_LABEL]: 'vaultsync' });
    expect(secret.metadata.annotations).toMatchObject({
      note: 'x',
      [OWNER_ANNOTATION]: KEY,
      [DELETION_POLICY_ANNOTATION]: 'Delete',
      [VAULT_VERSION_ANNOTATION]: '7',
    });
    expect(secret.metadata.annotations![HASH_ANNOTATION]).toMatch(/^[0-9a-f]{64}$/);
    expect(secret.metadata.ownerReferences).toEqual([
      {
        apiVersion: 'vaultsync.io/v1alpha1',
        kind: 'SecretSync',
        name: 'myapp',
        uid: 'sync-uid-1',
        controller: true,
        blockOwnerDeletion: true,
      },
    ]);
    expect(h.events).toContainEqual({
      key: KEY,
      type: 'Normal',
      reason: 'Synced',
      message: 'Created Secret myapp from Vault version 7',
    });
  });

  it('sets no owner reference for Retain', async () => {
    const h = setup((s) => {
      s.spec.target.deletionPolicy = 'Retain';
    });
    await run(h);
    const secret = h.store.current(NS, 'myapp')!;
    expect(secret.metadata.ownerReferences).toBeUndefined();
    expect(secret.metadata.annotations?.[DELETION_POLICY_ANNOTATION]).toBe('Retain');
  });
});

describe('reconcile: writes only on change', () => {
  it('a second run with nothing new writes neither Secret nor status, even later', async () => {
    const h = setup();
    await run(h);
    const writes = h.store.writes.length;
    const statusWrites = h.syncs.statusWrites.length;
    const events = h.events.length;
    h.clock.t += 10 * 60_000;

    await run(h);

    expect(h.store.writes).toHaveLength(writes);
    expect(h.syncs.statusWrites).toHaveLength(statusWrites);
    expect(h.events).toHaveLength(events);
    expect(h.metrics.observed.map(([o]) => o)).toEqual(['Synced', 'Unchanged']);
    expect(h.metrics.fresh.at(-1)).toEqual([KEY, Math.floor(h.clock.t / 1000)]);
  });

  it('restores hand-edited data although the HMAC annotation is unchanged', async () => {
    const h = setup(undefined, { password: 'right' });
    await run(h);
    h.store.edit(NS, 'myapp', (s) => {
      s.data.password = Buffer.from('tampered').toString('base64');
      s.data.extra = Buffer.from('added').toString('base64');
    });

    await run(h);

    expect(decoded(h.store.current(NS, 'myapp'))).toEqual({ password: 'right' });
    expect(h.store.writes.map((w) => w.op)).toEqual(['create', 'update']);
  });

  it('keeps labels and annotations others added, and does not count them as a change', async () => {
    const h = setup();
    await run(h);
    h.store.edit(NS, 'myapp', (s) => {
      s.metadata.labels = { ...s.metadata.labels, 'reloader/watch': 'true' };
      s.metadata.annotations = { ...s.metadata.annotations, 'argocd/tracking': 'x' };
    });
    await run(h);
    expect(h.store.writes.map((w) => w.op)).toEqual(['create']);

    h.vault.put('secret/myapp/config', { password: 'new' }, 2);
    await run(h);
    const secret = h.store.current(NS, 'myapp')!;
    expect(h.store.writes.map((w) => w.op)).toEqual(['create', 'update']);
    expect(secret.metadata.labels?.['reloader/watch']).toBe('true');
    expect(secret.metadata.annotations?.['argocd/tracking']).toBe('x');
    expect(secret.metadata.annotations?.[VAULT_VERSION_ANNOTATION]).toBe('2');
    expect(h.events.at(-1)).toMatchObject({
      type: 'Normal',
      reason: 'Synced',
      message: 'Updated Secret myapp from Vault version 2',
    });
  });

  it('keeps foreign owner references and replaces a stale SecretSync reference', async () => {
    const h = setup();
    await run(h);
    const deployment = { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web', uid: 'dep-uid' };
    const stale = {
      apiVersion: 'vaultsync.io/v1alpha1',
      kind: 'SecretSync',
      name: 'myapp',
      uid: 'old-uid',
      controller: true,
    };
    h.store.edit(NS, 'myapp', (s) => {
      s.metadata.ownerReferences = [deployment, stale];
    });

    await run(h);

    expect(h.store.current(NS, 'myapp')?.metadata.ownerReferences).toEqual([
      deployment,
      { ...stale, uid: 'sync-uid-1', blockOwnerDeletion: true },
    ]);
    await run(h);
    expect(h.store.writes.map((w) => w.op)).toEqual(['create', 'update']);
  });

  it('adopts its own Secret the cache has not seen yet instead of failing on 409', async () => {
    const h = setup();
    await run(h);
    h.store.notYetCached.add(`${NS}/myapp`);
    h.vault.put('secret/myapp/config', { password: 'v2' }, 2);

    await run(h);

    expect(h.store.writes.map((w) => w.op)).toEqual(['create', 'update']);
    expect(decoded(h.store.current(NS, 'myapp'))).toEqual({ password: 'v2' });
  });
});

describe('reconcile: Secrets it does not own', () => {
  const foreign = {
    'an unmanaged Secret (not in the cache)': { labels: { app: 'theirs' }, annotations: {} },
    'a Secret managed by another SecretSync': {
      labels: { [MANAGED_BY_LABEL]: 'vaultsync' },
      annotations: { [OWNER_ANNOTATION]: `${NS}/other` },
    },
  };
  it.each(Object.entries(foreign))('%s is never overwritten: SecretConflict', async (_name, meta) => {
    const h = setup();
    const theirs = h.store.seed({
      metadata: { name: 'myapp', namespace: NS, ...meta },
      type: 'Opaque',
      data: { theirs: Buffer.from('keep me').toString('base64') },
    });

    const err = await runFailing(h);

    expect(err.reason).toBe('SecretConflict');
    expect(err.message).toMatch(
      /^Secret myapp exists and is not managed by this SecretSync.*delete or rename it, or change spec\.target\.name$/,
    );
    expect(h.store.writes).toEqual([]);
    expect(h.store.current(NS, 'myapp')).toEqual(theirs);
    expect(ready(h)).toMatchObject({ status: 'False', reason: 'SecretConflict' });
  });
});

describe('reconcile: immutable targets', () => {
  const immutable = (s: SecretSync) => {
    s.spec.target.immutable = true;
  };

  it('replaces the Secret under the same name when data changes', async () => {
    const h = setup(immutable, { password: 'v1' });
    await run(h);
    const first = h.store.current(NS, 'myapp')!;
    h.vault.put('secret/myapp/config', { password: 'v2' }, 2);

    await run(h);

    const second = h.store.current(NS, 'myapp')!;
    expect(h.store.writes.map((w) => w.op)).toEqual(['create', 'delete', 'create']);
    expect(h.store.writes[1]).toEqual({ op: 'delete', namespace: NS, name: 'myapp', uid: first.metadata.uid });
    expect(second.immutable).toBe(true);
    expect(second.metadata.uid).not.toBe(first.metadata.uid);
    expect(decoded(second)).toEqual({ password: 'v2' });
    expect(h.events.at(-1)).toMatchObject({
      type: 'Normal',
      reason: 'Synced',
      message: expect.stringMatching(/^Replaced/) as unknown,
    });
  });

  it('writes nothing when data is unchanged', async () => {
    const h = setup(immutable);
    await run(h);
    await run(h);
    expect(h.store.writes.map((w) => w.op)).toEqual(['create']);
  });

  it('updates only metadata when a new Vault version has the same data', async () => {
    const h = setup(immutable, { password: 'same' });
    await run(h);
    h.vault.put('secret/myapp/config', { password: 'same' }, 2);
    await run(h);
    expect(h.store.writes.map((w) => w.op)).toEqual(['create', 'update']);
    expect(h.store.current(NS, 'myapp')?.metadata.annotations?.[VAULT_VERSION_ANNOTATION]).toBe('2');
  });
});

describe('reconcile: deletion and renames', () => {
  const gone: Record<string, (h: Harness) => void> = {
    'removed from the lister': (h) => h.syncs.items.delete(KEY),
    'with deletionTimestamp set': (h) => {
      h.syncs.items.get(KEY)!.metadata.deletionTimestamp = '2025-01-01T00:00:00Z';
    },
  };
  for (const [how, remove] of Object.entries(gone)) {
    it(`SecretSync ${how}: deletes its Secret when the policy is Delete`, async () => {
      const h = setup();
      await run(h);
      const uid = h.store.current(NS, 'myapp')!.metadata.uid!;
      remove(h);
      expect(await run(h)).toEqual({});
      expect(h.store.current(NS, 'myapp')).toBeUndefined();
      expect(h.store.writes.at(-1)).toEqual({ op: 'delete', namespace: NS, name: 'myapp', uid });
      expect(h.metrics.forgotten).toEqual([KEY]);
    });

    it(`SecretSync ${how}: leaves its Secret as it is when the policy is Retain`, async () => {
      const h = setup((s) => {
        s.spec.target.deletionPolicy = 'Retain';
      });
      await run(h);
      const before = h.store.current(NS, 'myapp');
      remove(h);
      expect(await run(h)).toEqual({});
      expect(h.store.current(NS, 'myapp')).toEqual(before);
      expect(h.store.writes.map((w) => w.op)).toEqual(['create']);
    });
  }

  it('never deletes a Secret in another namespace that claims to be owned by the key', async () => {
    const h = fakeDeps();
    const planted = h.store.seed({
      metadata: {
        name: 'victim',
        namespace: 'team-b',
        labels: { [MANAGED_BY_LABEL]: 'vaultsync' },
        annotations: { [OWNER_ANNOTATION]: KEY, [DELETION_POLICY_ANNOTATION]: 'Delete' },
      },
      type: 'Opaque',
      data: {},
    });
    await run(h);
    expect(h.store.current('team-b', 'victim')).toEqual(planted);
  });

  it.each([
    ['Delete', false],
    ['Retain', true],
  ] as const)('a renamed target replaces the old Secret (policy %s, old kept: %s)', async (policy, kept) => {
    const h = setup((s) => {
      s.spec.target.name = 'old-name';
      s.spec.target.deletionPolicy = policy;
    });
    await run(h);
    const sync = h.syncs.get(KEY)!;
    sync.spec.target.name = 'new-name';
    sync.metadata.generation = 2;
    h.syncs.set(sync);

    await run(h);

    expect(decoded(h.store.current(NS, 'new-name'))).toEqual({ password: 'hunter2' });
    expect(h.store.current(NS, 'old-name') !== undefined).toBe(kept);
    expect(h.syncs.get(KEY)?.status).toMatchObject({ secretName: 'new-name', observedGeneration: 2 });
  });
});

describe('reconcile: Vault failures', () => {
  it.each(['VaultUnavailable', 'VaultForbidden', 'VaultPathNotFound', 'VaultAuthFailed'] as const)(
    '%s leaves the Secret untouched, sets Ready=False, records a Warning and rethrows',
    async (reason) => {
      const h = setup();
      await run(h);
      const before = h.store.current(NS, 'myapp');
      const failure = new SyncError(reason, `Vault said no (${reason})`);
      h.vault.fail('secret/myapp/config', failure);

      const err = await runFailing(h);

      expect(err).toBe(failure);
      expect(h.store.current(NS, 'myapp')).toEqual(before);
      expect(h.store.writes.map((w) => w.op)).toEqual(['create']);
      expect(ready(h)).toMatchObject({ status: 'False', reason, message: failure.message });
      expect(h.events.at(-1)).toEqual({ key: KEY, type: 'Warning', reason, message: failure.message });
      expect(h.metrics.observed.at(-1)?.[0]).toBe(reason);
      expect(h.metrics.fresh).toHaveLength(1);
    },
  );

  it('wraps an unknown error with a generic message and keeps it as cause', async () => {
    const h = setup();
    const raw = new Error('socket hang up while sending token s.abcdef');
    h.vault.fail('secret/myapp/config', raw);
    const err = await runFailing(h);
    expect(err.reason).toBe('VaultUnavailable');
    expect(err.message).not.toContain('s.abcdef');
    expect(err.cause).toBe(raw);
  });

  it('reports nothing when the run was cancelled', async () => {
    const h = setup();
    h.vault.fail('secret/myapp/config', new Error('aborted'));
    const ac = new AbortController();
    ac.abort();
    await expect(reconcile(request(KEY), h.deps, ac.signal)).rejects.toBeInstanceOf(SyncError);
    expect(h.syncs.statusWrites).toEqual([]);
    expect(h.events).toEqual([]);
  });
});

describe('reconcile: Secret types', () => {
  it('writes a custom type the operator allowed', async () => {
    const h = setup(
      (s) => {
        s.spec.target.type = 'example.com/custom';
      },
      undefined,
      { allowedSecretTypes: ['example.com/custom'] },
    );
    await run(h);
    expect(h.store.current(NS, 'myapp')?.type).toBe('example.com/custom');
  });
});

describe('reconcile: identity', () => {
  it('uses serviceAccountName in the SecretSync’s own namespace with the controller defaults', async () => {
    const h = setup();
    await run(h, KEY, { fresh: true, priority: Priority.Push });
    expect(h.vault.requests).toEqual([
      {
        identity: {
          address: 'https://vault.example:8200',
          authMount: 'kubernetes',
          role: 'app-read',
          serviceAccount: { namespace: NS, name: 'myapp' },
          audiences: ['vault'],
        },
        mount: 'secret',
        path: 'myapp/config',
        fresh: true,
        maxAgeMs: 30_000, // min(cache TTL 30s, interval 300s / 10)
        priority: 2, // a push overtakes new and periodic requests at Vault too
        tenant: NS, // counted against its namespace's Vault rate
      },
    ]);
  });

  it('applies spec overrides, still in the SecretSync’s namespace', async () => {
    const allowAud = {
      tokenAudiences: ['vault', 'aud'],
      vault: {
        address: 'https://vault.example:8200',
        authMount: 'kubernetes',
        allowedAddresses: ['https://other:8200'],
      },
    };
    const h = setup(
      (s) => {
        s.spec.vault.address = 'https://other:8200';
        s.spec.vault.namespace = 'ns1';
        s.spec.vault.caBundle = '-----BEGIN CERTIFICATE-----x';
        s.spec.vault.kv!.version = 3;
        s.spec.auth.kubernetes = { role: 'r', serviceAccountName: 'team-b', mount: 'k8s-2', audiences: ['aud'] };
      },
      undefined,
      allowAud,
    );
    h.vault.put('secret/myapp/config', { a: 'b' }, 3);
    await run(h);
    expect(h.vault.requests[0]).toEqual({
      identity: {
        address: 'https://other:8200',
        vaultNamespace: 'ns1',
        caBundle: '-----BEGIN CERTIFICATE-----x',
        authMount: 'k8s-2',
        role: 'r',
        serviceAccount: { namespace: NS, name: 'team-b' },
        audiences: ['aud'],
      },
      mount: 'secret',
      path: 'myapp/config',
      version: 3,
      fresh: false,
      maxAgeMs: 30_000,
      priority: 1, // a new SecretSync's request
      tenant: NS,
    });
  });

  it('refuses token audiences the operator did not allow, before any token is requested', async () => {
    const h = setup((s) => {
      s.spec.auth.kubernetes.audiences = ['vault', 'https://kubernetes.default.svc'];
    });
    const err = await runFailing(h);
    expect(err).toMatchObject({ reason: 'InvalidSpec', terminal: true });
    expect(err.message).toContain('"https://kubernetes.default.svc" is not one of them');
    expect(err.message).toContain('--token-audiences: vault');
    expect(h.vault.requests).toEqual([]);
    expect(h.store.writes).toEqual([]);
  });

  it('refuses the controller identity unless the operator allows it', async () => {
    const noSa = (s: SecretSync) => {
      delete s.spec.auth.kubernetes.serviceAccountName;
    };
    const refused = setup(noSa);
    const err = await runFailing(refused);
    expect(err.reason).toBe('InvalidSpec');
    expect(err.terminal).toBe(true);
    expect(err.message).toMatch(/set serviceAccountName.*ask the operator/);
    expect(refused.vault.requests).toEqual([]);
    expect(refused.store.writes).toEqual([]);

    const allowed = setup(
      (s) => {
        noSa(s);
        s.spec.auth.kubernetes.role = 'controller-role';
      },
      undefined,
      { allowControllerIdentity: true, controllerVaultRole: 'controller-role' },
    );
    await run(allowed);
    expect(allowed.vault.requests[0]?.identity.serviceAccount).toBe('controller');
  });

  it("never sends the controller's own token to an address the SecretSync chose", async () => {
    const controllerIdentity = {
      allowControllerIdentity: true,
      controllerVaultRole: 'app-read',
      vault: {
        address: 'https://vault.example:8200',
        authMount: 'kubernetes',
        allowedAddresses: ['https://attacker.example:8200'],
      },
    };
    const elsewhere = setup(
      (s) => {
        delete s.spec.auth.kubernetes.serviceAccountName;
        s.spec.vault.address = 'https://attacker.example:8200';
      },
      undefined,
      controllerIdentity,
    );
    const err = await runFailing(elsewhere);
    expect(err.reason).toBe('InvalidSpec');
    expect(err.terminal).toBe(true);
    expect(elsewhere.vault.requests).toEqual([]);
    const same = setup(
      (s) => {
        delete s.spec.auth.kubernetes.serviceAccountName;
        s.spec.vault.address = 'https://vault.example:8200';
      },
      undefined,
      controllerIdentity,
    );
    await run(same);
    expect(same.vault.requests).toHaveLength(1);
  });
});

describe('reconcile: status', () => {
  it('moves lastTransitionTime only when Ready flips, lastSyncTime only on writes', async () => {
    const h = setup();
    const t0 = h.clock.t;
    const iso = (ms: number) => new Date(ms).toISOString().replace('.000Z', 'Z');
    h.vault.fail('secret/myapp/config', new SyncError('VaultUnavailable', 'down'));
    await runFailing(h);
    h.clock.t += 1000;
    await runFailing(h);
    expect(h.syncs.statusWrites).toHaveLength(1);
    expect(ready(h)?.lastTransitionTime).toBe(iso(t0));

    h.clock.t = t0 + 60_000;
    h.vault.put('secret/myapp/config', { password: 'p' }, 4);
    await run(h);
    expect(h.syncs.get(KEY)?.status).toEqual({
      conditions: [
        {
          type: 'Ready',
          status: 'True',
          observedGeneration: 1,
          lastTransitionTime: iso(t0 + 60_000),
          reason: 'Synced',
          message: 'Secret myapp matches Vault version 4',
        },
      ],
      observedGeneration: 1,
      secretName: 'myapp',
      vaultVersion: 4,
      lastSyncTime: iso(t0 + 60_000),
    });

    h.clock.t = t0 + 120_000;
    h.vault.put('secret/myapp/config', { password: 'p2' }, 5);
    await run(h);
    expect(ready(h)?.lastTransitionTime).toBe(iso(t0 + 60_000));
    expect(h.syncs.get(KEY)?.status?.lastSyncTime).toBe(iso(t0 + 120_000));
    expect(h.syncs.statusWrites).toHaveLength(3);
  });
});

describe('reconcile: requeue', () => {
  it.each([
    [undefined, 300_000],
    ['15m', 900_000],
    ['1h30m', 5_400_000],
    ['10s', 30_000],
  ])('interval %s → %i ms', async (interval, want) => {
    const h = setup((s) => {
      if (interval !== undefined) s.spec.refresh.interval = interval;
    });
    const result = await run(h);
    // Phase-aligned (src/scheduler/timing.ts): between 0.1 and 1.1 intervals, used as it is.
    expect(result.requeueAfterMs).toBeGreaterThanOrEqual(want * 0.1);
    expect(result.requeueAfterMs).toBeLessThanOrEqual(want * 1.1);
  });

  it('readers of one path and identity refresh at the same instant', async () => {
    const a = setup();
    const b = setup((s) => {
      s.spec.target.name = 'other-secret';
      s.spec.data = undefined;
    });
    const other = setup((s) => {
      s.spec.vault.kv!.path = 'myapp/other';
    });
    const [ra, rb] = [await run(a), await run(b)];
    expect(ra.requeueAfterMs).toBeGreaterThan(0);
    expect(ra.requeueAfterMs).toBe(rb.requeueAfterMs);
    other.vault.put('secret/myapp/other', { password: 'hunter2' }, 1);
    expect((await run(other)).requeueAfterMs).not.toBe((await run(setup())).requeueAfterMs);
  });

  it('an unparseable interval is InvalidSpec, before Vault is read', async () => {
    const h = setup((s) => {
      s.spec.refresh.interval = 'soon';
    });
    const err = await runFailing(h);
    expect(err.reason).toBe('InvalidSpec');
    expect(h.vault.requests).toEqual([]);
  });
});
