/* eslint-disable @typescript-eslint/no-explicit-any, @typescript-eslint/no-unsafe-member-access -- the fixtures are deliberately ill-typed objects */
import { describe, expect, it } from 'vitest';
import { SyncError } from '../errors.js';
import { parseDuration } from './duration.js';
import {
  CREATED_ONCE_EXPIRING_MESSAGE,
  MIN_REFRESH_INTERVAL,
  VAULT_ADDRESS_PATTERN,
  type SecretSyncSpec,
} from './schema.js';
import { parseSecretSync, specRuleErrors, validateSecretSync } from './validate.js';

// A value that must never appear in an error message.
const CANARY = 'Canary_Value_7f3a';

function good(): Record<string, any> {
  return {
    apiVersion: 'vaultsync.io/v1alpha1',
    kind: 'SecretSync',
    metadata: { name: 'myapp', namespace: 'default', uid: 'uid-1', generation: 2, managedFields: [] },
    spec: {
      vault: { kv: { path: 'myapp/config' } },
      auth: { kubernetes: { role: 'app-read', serviceAccountName: 'myapp' } },
    },
  };
}

function errorsOf(obj: unknown): string[] {
  const result = validateSecretSync(obj);
  if (result.ok) throw new Error('expected the object to be rejected');
  return result.errors;
}

describe('validateSecretSync', () => {
  it('accepts a minimal object and applies the defaults to a copy', () => {
    const input = good();
    const before = structuredClone(input);
    const result = validateSecretSync(input);
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.value.spec).toEqual({
      vault: { kv: { path: 'myapp/config', mount: 'secret' } },
      auth: { kubernetes: { role: 'app-read', serviceAccountName: 'myapp' } },
      target: { type: 'Opaque', immutable: false, deletionPolicy: 'Delete' },
      refresh: { policy: 'Periodic' },
    });
    expect(result.value.metadata.generation).toBe(2);
    expect(input).toEqual(before);
  });

  it('keeps values that are set instead of defaulting them', () => {
    const obj = good();
    obj.spec.vault.kv!.mount = 'kv';
    obj.spec.target = { name: 'out', type: 'kubernetes.io/tls', immutable: true, deletionPolicy: 'Retain' };
    obj.spec.refresh = { interval: '1h30m' };
    obj.spec.data = [{ secretKey: 'DB_PASS', property: 'db' }];
    obj.status = {
      conditions: [
        { type: 'Ready', status: 'True', lastTransitionTime: '2025-01-01T00:00:00Z', reason: 'Synced', message: '' },
      ],
      vaultVersion: 3,
    };
    const result = validateSecretSync(obj);
    expect(result.ok && result.value.spec).toEqual({
      ...obj.spec,
      vault: { kv: { path: 'myapp/config', mount: 'kv' } },
      refresh: { interval: '1h30m', policy: 'Periodic' },
    });
    expect(result.ok && result.value.status?.vaultVersion).toBe(3);
  });

  // [what, mutation, exact errors]. Canary values sit where a message could echo them.
  const bad: [string, (o: Record<string, any>) => void, string[]][] = [
    ['not an object', (o) => (o.spec = CANARY), ['spec: must be an object']],
    ['missing spec', (o) => delete o.spec, ['spec: is required']],
    ['missing role', (o) => delete o.spec.auth.kubernetes.role, ['spec.auth.kubernetes.role: is required']],
    ['missing kv', (o) => delete o.spec.vault.kv, ['spec: exactly one of spec.vault.kv and spec.sources must be set']],
    ['wrong apiVersion', (o) => (o.apiVersion = 'v1'), ['apiVersion: must be "vaultsync.io/v1alpha1"']],
    ['missing uid', (o) => delete o.metadata.uid, ['metadata.uid: is required']],
    [
      'bad target name',
      (o) => (o.spec.target = { name: CANARY }),
      ['spec.target.name: must match ^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$'],
    ],
    [
      'bad secretKey',
      (o) => (o.spec.data = [{ secretKey: 'ok' }, { secretKey: `${CANARY} x`, property: 'p' }]),
      ['spec.data[0].property: is required', 'spec.data[1].secretKey: must match ^[-._a-zA-Z0-9]+$'],
    ],
    [
      'unknown deletionPolicy',
      (o) => (o.spec.target = { deletionPolicy: CANARY }),
      ['spec.target.deletionPolicy: must be one of "Delete", "Retain"'],
    ],
    ['kv version 0', (o) => (o.spec.vault.kv!.version = 0), ['spec.vault.kv.version: must be at least 1']],
    ['kv version 1.5', (o) => (o.spec.vault.kv!.version = 1.5), ['spec.vault.kv.version: must be an integer']],
    [
      'empty path',
      (o) => (o.spec.vault.kv!.path = ''),
      ['spec.vault.kv.path: must not be empty', 'spec.vault.kv.path: must match ^[^/](.*[^/])?$'],
    ],
    [
      'path too long',
      (o) => (o.spec.vault.kv!.path = CANARY.repeat(100)),
      ['spec.vault.kv.path: must be at most 1024 characters long'],
    ],
    ['empty data', (o) => (o.spec.data = []), ['spec.data: must have at least 1 item(s)']],
    [
      'immutable as string',
      (o) => (o.spec.target = { immutable: 'yes' }),
      ['spec.target.immutable: must be a boolean'],
    ],
    [
      'label value not a string',
      (o) => (o.spec.target = { labels: { 'app.kubernetes.io/name': 7 } }),
      ['spec.target.labels["app.kubernetes.io/name"]: must be a string'],
    ],
    [
      'too many annotations',
      (o) =>
        (o.spec.target = { annotations: Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`k${i}`, CANARY])) }),
      ['spec.target.annotations: must have at most 64 entries'],
    ],
    [
      'interval syntax',
      (o) => (o.spec.refresh = { interval: `1${CANARY}` }),
      ['spec.refresh.interval: must match ^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$'],
    ],
    [
      'bad condition status',
      (o) =>
        (o.status = {
          conditions: [{ type: 'Ready', status: 'Maybe', lastTransitionTime: 'x', reason: 'R', message: '' }],
        }),
      ['status.conditions[0].status: must be one of "True", "False", "Unknown"'],
    ],
    // CEL-equivalent rules, checked once the schema passes.
    [
      'dot-dot path',
      (o) => (o.spec.vault.kv!.path = `a/../${CANARY}`),
      ['spec.vault.kv.path: must not contain empty, . or .. segments'],
    ],
    [
      'duplicate secretKey',
      (o) =>
        (o.spec.data = [
          { secretKey: CANARY, property: 'a' },
          { secretKey: 'other', property: 'b' },
          { secretKey: CANARY, property: 'c' },
        ]),
      ['spec.data[2].secretKey: must be unique; spec.data[0] has the same secretKey'],
    ],
  ];

  it.each(bad)('rejects %s, naming the path and not the value', (_what, mutate, expected) => {
    const obj = good();
    mutate(obj);
    const errors = errorsOf(obj);
    expect(errors).toEqual(expected);
    for (const e of errors) expect(e).not.toContain(CANARY);
  });

  it('rejects a non-object', () => {
    expect(errorsOf('SecretSync')).toEqual(['SecretSync: must be an object']);
    expect(errorsOf(null)).toEqual(['SecretSync: must be an object']);
  });

  it('reports every problem at once', () => {
    const obj = good();
    delete obj.spec.auth;
    obj.spec.target = { name: 'UPPER' };
    obj.spec.vault.kv!.mount = '/secret';
    expect(errorsOf(obj)).toHaveLength(3);
  });
});

describe('parseSecretSync', () => {
  it('returns the defaulted object when valid', () => {
    expect(parseSecretSync(good()).spec.target.deletionPolicy).toBe('Delete');
  });

  it('throws a terminal InvalidSpec SyncError listing the problems', () => {
    const obj = good();
    obj.spec.vault.kv!.path = 'a//b';
    const err = captureError(() => parseSecretSync(obj));
    expect(err).toBeInstanceOf(SyncError);
    expect(err).toMatchObject({ reason: 'InvalidSpec', terminal: true });
    expect(err.message).toBe('invalid SecretSync: spec.vault.kv.path: must not contain empty, . or .. segments');
  });

  it('keeps a long list of problems short', () => {
    const obj = good();
    obj.spec.data = Array.from({ length: 8 }, () => ({ secretKey: 'bad key', property: 'p' }));
    const err = captureError(() => parseSecretSync(obj));
    expect(err.message).toMatch(/spec\.data\[4\]\.secretKey: must match .*\(and 3 more\)$/);
    expect(err.message).not.toContain('spec.data[5]');
  });
});

function captureError(fn: () => unknown): SyncError {
  try {
    fn();
  } catch (err) {
    if (err instanceof SyncError) return err;
    throw err;
  }
  throw new Error('expected a SyncError');
}

describe('spec.vault.address is only scheme://host[:port]', () => {
  const withAddress = (address: string) => {
    const obj = good();
    obj.spec.vault.address = address;
    return obj;
  };
  it.each([
    'https://vault.example:8200',
    'http://127.0.0.1:8200',
    'https://vault.vault.svc',
    'https://vault.example:8200/',
    'https://[fd00::1]:8200',
  ])('accepts %s', (address) => {
    expect(validateSecretSync(withAddress(address)).ok).toBe(true);
  });

  it.each([
    'https://vault.example:8200/v1/secret', // a path would prefix every request
    'https://vault.example:8200?x=1', // a query
    'https://vault.example:8200#frag', // a fragment
    'https://user:pass@vault.example:8200', // user info
    'https://vault.example:8200//', // an empty path segment
    'ftp://vault.example:8200',
    'vault example',
    'https://',
  ])('refuses %s', (address) => {
    expect(errorsOf(withAddress(address))).toContain(`spec.vault.address: must match ${VAULT_ADDRESS_PATTERN}`);
  });
});

describe('specRuleErrors (the CRD CEL rules in code)', () => {
  const spec = (patch: (s: SecretSyncSpec) => void): SecretSyncSpec => {
    const s: SecretSyncSpec = {
      vault: { kv: { mount: 'secret', path: 'a/b' } },
      auth: { kubernetes: { role: 'r' } },
      target: { type: 'Opaque', immutable: false, deletionPolicy: 'Delete' },
      refresh: {},
    };
    patch(s);
    return s;
  };

  it('accepts a spec that keeps every rule', () => {
    const ok = spec((s) => {
      s.vault.address = 'https://vault.example:8200';
      s.vault.caBundle = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
      s.vault.kv!.path = 'team/.hidden/app';
      s.refresh.interval = MIN_REFRESH_INTERVAL;
      s.data = [
        { secretKey: 'A', property: 'a' },
        { secretKey: 'a', property: 'a' },
      ];
    });
    expect(specRuleErrors(ok)).toEqual([]);
    expect(specRuleErrors(spec((s) => (s.refresh.interval = '8760h')))).toEqual([]);
    expect(specRuleErrors(spec((s) => (s.vault.address = 'http://127.0.0.1:8200')))).toEqual([]);
  });

  it.each([
    ['a//b', false],
    ['./a', false],
    ['a/..', false],
    ['a/.b/c..', true],
  ])('kv.path %s ok=%s', (path, ok) => {
    expect(specRuleErrors(spec((s) => (s.vault.kv!.path = path))).length === 0).toBe(ok);
  });

  it.each(['ftp://vault', 'vault.example:8200', 'https://', 'https://a b'])('rejects address %s', (address) => {
    expect(specRuleErrors(spec((s) => (s.vault.address = address)))).toEqual([
      'spec.vault.address: must be an http:// or https:// URL',
    ]);
  });

  it.each([
    ['Opaque', true],
    ['kubernetes.io/tls', true],
    ['kubernetes.io/dockerconfigjson', true],
    ['example.com/custom', true], // admitted; the operator's --allowed-secret-types decides
    ['helm.sh/release.v1', true], // likewise
    ['kubernetes.io/service-account-token', false],
    ['bootstrap.kubernetes.io/token', false],
    ['kubernetes.io/dockercfg', false],
  ])('target.type %s ok=%s', (type, ok) => {
    expect(specRuleErrors(spec((s) => (s.target.type = type))).length === 0).toBe(ok);
  });

  it.each([
    ['team', true],
    ['app.kubernetes.io/part-of', true],
    ['example.com/owner', true],
    ['app.kubernetes.io/managed-by', false],
    ['kubernetes.io/service-account.name', false],
    ['node.k8s.io/x', false],
    ['vaultsync.io/content-hmac', false],
    ['x.vaultsync.io/y', false],
  ])('target label or annotation key %s ok=%s', (key, ok) => {
    expect(specRuleErrors(spec((s) => (s.target.labels = { [key]: 'v' }))).length === 0).toBe(ok);
    expect(specRuleErrors(spec((s) => (s.target.annotations = { [key]: 'v' }))).length === 0).toBe(ok);
  });

  it('rejects a caBundle that holds no PEM certificate', () => {
    expect(specRuleErrors(spec((s) => (s.vault.caBundle = '-----BEGIN PRIVATE KEY-----')))).toEqual([
      'spec.vault.caBundle: must be PEM certificates',
    ]);
  });

  it('bounds refresh.interval', () => {
    const below = `${parseDuration(MIN_REFRESH_INTERVAL) - 1}ms`;
    expect(specRuleErrors(spec((s) => (s.refresh.interval = below)))).toEqual([
      `spec.refresh.interval: must be at least ${MIN_REFRESH_INTERVAL}`,
    ]);
    expect(specRuleErrors(spec((s) => (s.refresh.interval = '8760h1ms')))).toEqual([
      'spec.refresh.interval: must be at most 8760h',
    ]);
    expect(specRuleErrors(spec((s) => (s.refresh.interval = '99999999999999h')))).toEqual([
      'spec.refresh.interval: must be a Go duration within range, such as 30s, 15m or 1h',
    ]);
  });
});

describe('spec.sources', () => {
  const withSources = (sources: unknown[], edit: (spec: Record<string, any>) => void = () => undefined) => {
    const obj = good();
    const spec = obj.spec as Record<string, any>;
    delete spec.vault.kv;
    spec.sources = sources;
    edit(spec);
    return obj;
  };

  it('accepts several kv sources and defaults their mounts', () => {
    const result = validateSecretSync(
      withSources([
        { kv: { path: 'a' } },
        { name: 'db', kv: { path: 'b' }, data: [{ secretKey: 'K', property: 'x.y' }] },
      ]),
    );
    expect(result.ok).toBe(true);
    if (result.ok) expect(result.value.spec.sources?.map((s) => s.kv?.mount)).toEqual(['secret', 'secret']);
  });

  it('accepts spec.vault without kv, and no spec.vault at all', () => {
    const obj = withSources([{ kv: { path: 'a' } }]);
    delete obj.spec.vault;
    expect(validateSecretSync(obj).ok).toBe(true);
  });

  it.each<[string, unknown[], (spec: Record<string, any>) => void, string[]]>([
    [
      'both kv and sources',
      [{ kv: { path: 'a' } }],
      (s) => (s.vault.kv = { path: 'b' }),
      ['spec: exactly one of spec.vault.kv and spec.sources must be set'],
    ],
    [
      'spec.data with sources',
      [{ kv: { path: 'a' } }],
      (s) => (s.data = [{ secretKey: 'a', property: 'b' }]),
      ['spec: spec.data picks from spec.vault.kv; with spec.sources, put data in each source'],
    ],
    [
      'an item of no kind',
      [{ data: [{ secretKey: 'a', property: 'b' }] }],
      () => undefined,
      ['spec.sources[0]: a source must have exactly one of kv, database, pki'],
    ],
    [
      'duplicate names',
      [
        { name: 'a', kv: { path: 'x' } },
        { name: 'a', kv: { path: 'y' } },
      ],
      () => undefined,
      ['spec.sources[1].name: source names must be unique; spec.sources[0] has the same name'],
    ],
    [
      'one secretKey picked by two sources',
      [
        { kv: { path: 'x' }, data: [{ secretKey: 'K', property: 'a' }] },
        { kv: { path: 'y' }, data: [{ secretKey: 'K', property: 'b' }] },
      ],
      () => undefined,
      [
        'spec.sources[1].data: secretKey "K" is also picked by spec.sources[0]; a Secret key may come from one pick only',
      ],
    ],
    [
      'a bad path in an item',
      [{ kv: { path: 'a/../b' } }],
      () => undefined,
      ['spec.sources[0].kv.path: must not contain empty, . or .. segments'],
    ],
    [
      'a bad template key',
      [{ kv: { path: 'a' } }],
      (s) => (s.template = { data: { 'bad key': 'x' } }),
      [
        'spec.template.data: template keys must be valid Secret keys: letters, digits, -, _ and ., at most 253 characters',
      ],
    ],
    [
      'a bad decodingStrategy',
      [{ kv: { path: 'a' }, data: [{ secretKey: 'k', property: 'p', decodingStrategy: 'Hex' }] }],
      () => undefined,
      ['spec.sources[0].data[0].decodingStrategy: must be one of "None", "Base64", "Base64URL"'],
    ],
    [
      'a bad source name',
      [{ name: 'my-db', kv: { path: 'a' } }],
      () => undefined,
      ['spec.sources[0].name: must match ^[A-Za-z_][A-Za-z0-9_]*$'],
    ],
    [
      'refresh.policy CreatedOnce with sources that expire',
      [{ kv: { path: 'a' } }, { database: { role: 'app' } }, { pki: { role: 'web', commonName: 'app.example' } }],
      (s) => (s.refresh = { policy: 'CreatedOnce' }),
      [`spec.refresh.policy: ${CREATED_ONCE_EXPIRING_MESSAGE} (spec.sources[1].database, spec.sources[2].pki)`],
    ],
  ])('rejects %s', (_name, sources, edit, want) => {
    expect(errorsOf(withSources(sources, edit))).toEqual(want);
  });

  it('accepts CreatedOnce with kv sources only, and database or pki sources under OnChange and Periodic', () => {
    const createdOnce = (s: Record<string, any>) => (s.refresh = { policy: 'CreatedOnce' });
    expect(validateSecretSync(withSources([{ kv: { path: 'a' } }, { kv: { path: 'b' } }], createdOnce)).ok).toBe(true);
    const leased = [{ database: { role: 'app' } }, { pki: { role: 'web', commonName: 'app.example' } }];
    for (const policy of ['OnChange', 'Periodic', undefined]) {
      const result = validateSecretSync(
        withSources(leased, (s) => {
          if (policy !== undefined) s.refresh = { policy };
        }),
      );
      expect(result.ok ? [] : result.errors, String(policy)).toEqual([]);
    }
    // The message says what to do instead.
    expect(CREATED_ONCE_EXPIRING_MESSAGE).toMatch(/Use refresh\.policy OnChange .* or Periodic/);
  });

  it('rejects an empty and an over-long list', () => {
    expect(errorsOf(withSources([]))).toEqual(['spec.sources: must have at least 1 item(s)']);
    expect(errorsOf(withSources(Array.from({ length: 17 }, (_, i) => ({ kv: { path: `p${i}` } }))))).toEqual([
      'spec.sources: must have at most 16 items',
    ]);
  });
});
