import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { DatabaseSourceSchema, PkiSourceSchema } from './dynamic.js';

/**
 * The single source of the SecretSync API: the TypeScript types (Static<>), runtime validation
 * (validate.ts) and the CRD's OpenAPI schema (crd.ts, generated into crds/) all come from here.
 * `x-kubernetes-validations` are CEL rules the API server enforces at admission.
 */

export const GROUP = 'vaultsync.io';
export const VERSION = 'v1alpha1';
export const KIND = 'SecretSync';
export const PLURAL = 'secretsyncs';
export const API_VERSION = `${GROUP}/${VERSION}`;

/** Sources per SecretSync (spec.sources). */
export const MAX_SOURCES = 16;

/** Hard floor of `spec.refresh.interval` enforced by the CRD; operators may raise it with a flag. */
export const MIN_REFRESH_INTERVAL = '1s';

const cel = (rule: string, message: string, extra: Record<string, string> = {}) => ({ rule, message, ...extra });

// RFC 1123 subdomain: what the API server accepts as a Secret or ServiceAccount name.
const DNS_SUBDOMAIN = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$';
// What the API server accepts as a key of Secret.data.
export const SECRET_KEY_PATTERN = '^[-._a-zA-Z0-9]+$';
// spec.vault.address: scheme://host[:port] and nothing else (a trailing / aside), so no path, query,
// fragment or user info can ride into the URL of every request. Hosts: DNS names, IPv4, [IPv6].
export const VAULT_ADDRESS_PATTERN =
  '^https?://([A-Za-z0-9]([-A-Za-z0-9.]*[A-Za-z0-9])?|\\[[0-9A-Fa-f:.]+\\])(:[0-9]{1,5})?/?$';
// Go duration strings as CEL's duration() parses them, e.g. 30s, 15m, 1h30m.
const DURATION = '^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$';

const dnsSubdomain = (description: string) =>
  Type.String({ description, minLength: 1, maxLength: 253, pattern: DNS_SUBDOMAIN });

/** Secret types a SecretSync may always write; other types outside kubernetes.io/ and k8s.io/ need the
 *  operator's --allowed-secret-types. (A service-account-token Secret would mint a token for any
 *  ServiceAccount of the namespace; a bootstrap token joins nodes.) */
export const SAFE_SECRET_TYPES = [
  'Opaque',
  'kubernetes.io/tls',
  'kubernetes.io/dockerconfigjson',
  'kubernetes.io/basic-auth',
  'kubernetes.io/ssh-auth',
] as const;

/** Prefixes Kubernetes and vaultsync own: a spec may not set labels or annotations in them
 *  (`app.kubernetes.io/` is the exception, but for our managed-by label). RE2 syntax. */
export const RESERVED_KEY_PATTERN = String.raw`^([^/]*\.)?(kubernetes\.io|k8s\.io|vaultsync\.io)/`;
const TYPE_PREFIX_PATTERN = String.raw`^([^/]*\.)?(kubernetes\.io|k8s\.io)/`;
const celString = (s: string) => `'${s.replaceAll('\\', '\\\\')}'`;

/** Labels or annotations of the written Secret: bounded values, no reserved keys. */
const targetMap = (description: string, maxValueLength: number) =>
  Type.Record(Type.String(), Type.String({ maxLength: maxValueLength }), {
    description,
    maxProperties: 64,
    'x-kubernetes-validations': [
      cel(
        `!self.exists(k, (k.matches(${celString(RESERVED_KEY_PATTERN)}) && !k.startsWith('app.kubernetes.io/')) || k == 'app.kubernetes.io/managed-by')`,
        'keys in the kubernetes.io/, k8s.io/ and vaultsync.io/ prefixes are reserved (app.kubernetes.io/ keys other than managed-by are allowed)',
      ),
    ],
  });

export const VaultKvSchema = Type.Object(
  {
    mount: Type.String({
      description: 'KV v2 mount path. Default: secret.',
      default: 'secret',
      minLength: 1,
      maxLength: 256,
      pattern: '^[^/](.*[^/])?$',
    }),
    path: Type.String({
      description:
        'Path of the secret under the mount, without the data/ prefix: myapp/config reads secret/data/myapp/config.',
      minLength: 1,
      maxLength: 1024,
      pattern: '^[^/](.*[^/])?$',
      'x-kubernetes-validations': [
        cel(
          "!self.split('/').exists(s, s == '' || s == '.' || s == '..')",
          'path must not contain empty, . or .. segments',
        ),
      ],
    }),
    version: Type.Optional(
      Type.Integer({ description: 'Pin a KV v2 version. Absent: the latest version.', minimum: 1 }),
    ),
  },
  { description: 'Which KV v2 secret to read.' },
);

export const VaultSchema = Type.Object(
  {
    address: Type.Optional(
      Type.String({
        description:
          "Vault address, only scheme://host[:port] (no path, query, fragment or user info); the operator must allow it (--vault-allowed-addresses). Absent: the controller's --vault-address.",
        maxLength: 2048,
        pattern: VAULT_ADDRESS_PATTERN,
        'x-kubernetes-validations': [
          cel(
            "isURL(self) && (self.startsWith('https://') || self.startsWith('http://'))",
            'address must be an http:// or https:// URL',
          ),
        ],
      }),
    ),
    namespace: Type.Optional(
      Type.String({
        description: 'Vault Enterprise namespace, sent as the X-Vault-Namespace header.',
        maxLength: 512,
        pattern: '^[^/](.*[^/])?$',
      }),
    ),
    caBundle: Type.Optional(
      Type.String({
        description: "PEM CA bundle to verify Vault's TLS certificate. Absent: the controller's --vault-ca-file.",
        maxLength: 65536,
        'x-kubernetes-validations': [
          cel("self.contains('-----BEGIN CERTIFICATE-----')", 'caBundle must be PEM certificates'),
        ],
      }),
    ),
    kv: Type.Optional(
      Type.Object(VaultKvSchema.properties, {
        description:
          'The single-source shorthand: which KV v2 secret to read, picked with spec.data. Exactly one of spec.vault.kv and spec.sources.',
      }),
    ),
  },
  { description: 'Which Vault to talk to, and (shorthand) which KV v2 secret to read.', default: {} },
);

export const KubernetesAuthSchema = Type.Object(
  {
    mount: Type.Optional(
      Type.String({
        description:
          'Mount path of the Kubernetes auth method. Absent: the controller\'s --vault-auth-mount ("kubernetes").',
        minLength: 1,
        maxLength: 256,
        pattern: '^[^/](.*[^/])?$',
      }),
    ),
    role: Type.String({ description: 'Vault role to log in as.', minLength: 1, maxLength: 256, pattern: '^[^/]+$' }),
    serviceAccountName: Type.Optional(
      dnsSubdomain(
        "ServiceAccount in this SecretSync's namespace to log in as (a short-lived token is requested for it). Absent: the controller's own identity, only where the operator allows it.",
      ),
    ),
    audiences: Type.Optional(
      Type.Array(Type.String({ minLength: 1, maxLength: 256 }), {
        description:
          "Audiences of the requested token; must include what the Vault role expects and be among the controller's --token-audiences (the operator's allow-list). Absent: the controller's --token-audiences.",
        minItems: 1,
        maxItems: 8,
      }),
    ),
  },
  { description: 'Kubernetes auth method login.' },
);

export const AuthSchema = Type.Object(
  { kubernetes: KubernetesAuthSchema },
  { description: 'How the controller logs into Vault for this SecretSync.' },
);

export const DECODING_STRATEGIES = ['None', 'Base64', 'Base64URL'] as const;

const decodingStrategy = (what: string) =>
  Type.Optional(
    Type.Union(
      DECODING_STRATEGIES.map((d) => Type.Literal(d)),
      {
        description: `How ${what} stored in Vault: None (as is), Base64 (standard alphabet, padding optional) or Base64URL (URL-safe alphabet); a decoded value is written as its bytes. Default: None.`,
      },
    ),
  );

const secretKeyString = (description: string) =>
  Type.String({ description, minLength: 1, maxLength: 253, pattern: SECRET_KEY_PATTERN });

/** Where a value sits in a Vault secret: a top-level key, or a path into nested JSON (docs/rendering.md). */
const propertyString = (description: string) => Type.String({ description, minLength: 1, maxLength: 1024 });

export const DataItemSchema = Type.Object({
  secretKey: secretKeyString('Key in the Secret.'),
  property: propertyString(
    'Key in the Vault secret, or a path into a nested JSON value: a.b, list.0 (array index), a\\.b for a key containing a dot. A top-level key spelled exactly like this wins over a path.',
  ),
  decodingStrategy: decodingStrategy('the value is'),
});

/** A pick list: secretKeys unique by list-map key (a CEL rule comparing every pair is quadratic: at
 *  256 long keys it hit the API server's per-call cost limit). */
const dataList = (description: string) =>
  Type.Array(DataItemSchema, {
    description,
    minItems: 1,
    maxItems: 256,
    'x-kubernetes-list-type': 'map',
    'x-kubernetes-list-map-keys': ['secretKey'],
  });

export const RewriteSchema = Type.Object({
  regex: Type.String({
    description:
      'RE2 regular expression (Go syntax, linear-time matching) applied to each key name; every match is replaced.',
    minLength: 1,
    maxLength: 256,
  }),
  replacement: Type.String({
    description: 'Replacement, Go syntax: $1 or ${1} for a group, ${name} for a named group, $$ for a dollar sign.',
    maxLength: 253,
  }),
});

export const AllKeysSchema = Type.Object(
  {
    property: Type.Optional(
      propertyString('Take the keys of this nested object (a path as in data[].property) instead of the top level.'),
    ),
    prefix: Type.Optional(
      Type.String({ description: 'Prepended to every key name, after the rewrites.', maxLength: 253 }),
    ),
    rewrite: Type.Optional(
      Type.Array(RewriteSchema, {
        description: 'Rewrites of key names, applied in order.',
        minItems: 1,
        maxItems: 8,
      }),
    ),
    decodingStrategy: decodingStrategy('every value is'),
  },
  {
    description:
      'Every key of the secret (or of a nested object), reshaped. Keys collide: within one source it is an error (InvalidSecretKey); across sources the later source wins.',
  },
);

export const SOURCE_NAME_PATTERN = '^[A-Za-z_][A-Za-z0-9_]*$';

/** The kinds of source item, each optional; a source item holds exactly one of them (CEL below, and
 *  specRuleErrors). The Source of each kind (sources/) reads it; reconcile never branches on the kind. */
const sourceKinds = {
  kv: Type.Optional(Type.Object(VaultKvSchema.properties, { description: 'Read a KV v2 secret.' })),
  database: Type.Optional(DatabaseSourceSchema),
  pki: Type.Optional(PkiSourceSchema),
};
export const SOURCE_KINDS = Object.keys(sourceKinds) as (keyof typeof sourceKinds)[];
/** Kinds whose values expire unless read again (leases renewed, certificates re-issued). */
export const EXPIRING_SOURCE_KINDS = ['database', 'pki'] as const satisfies readonly (typeof SOURCE_KINDS)[number][];
/** Why refresh.policy CreatedOnce is refused with them: the CEL rule's message and InvalidSpec's. */
export const CREATED_ONCE_EXPIRING_MESSAGE =
  'refresh.policy CreatedOnce never reads Vault again, so database credentials would not be renewed and pki certificates not re-issued: they expire in the Secret. Use refresh.policy OnChange (reads only on a spec change, a push or a force-sync, and still renews leases) or Periodic with database or pki sources';

export const SourceItemSchema = Type.Object(
  {
    name: Type.Optional(
      Type.String({
        description:
          "Unique name of this source in the list; templates read this source's values as sources.<name>.<key>.",
        minLength: 1,
        maxLength: 63,
        pattern: SOURCE_NAME_PATTERN,
      }),
    ),
    ...sourceKinds,
    data: Type.Optional(dataList('Keys to pick and rename from this source.')),
    allKeys: Type.Optional(AllKeysSchema),
  },
  {
    description:
      'One source of values. Neither data nor allKeys: every top-level key, as with the shorthand. Both: the picks and all keys.',
    'x-kubernetes-validations': [
      cel(
        `[${SOURCE_KINDS.map((k) => `has(self.${k})`).join(', ')}].exists_one(x, x)`,
        `a source must have exactly one of ${SOURCE_KINDS.join(', ')}`,
      ),
    ],
  },
);

export const MERGE_POLICIES = ['Replace', 'Merge'] as const;
/** Template keys per SecretSync and the size of one template: big enough for config files. */
export const MAX_TEMPLATES = 64;
export const MAX_TEMPLATE_LENGTH = 65_536;

export const TemplateSchema = Type.Object(
  {
    data: Type.Record(
      Type.String(),
      Type.String({ maxLength: MAX_TEMPLATE_LENGTH, description: 'A Liquid template (docs/rendering.md).' }),
      {
        description:
          'Secret keys built by templates from the values read (Liquid syntax, sandboxed). Keys must be valid Secret keys (checked by the controller: the API server cannot bound a CEL rule on map keys).',
        minProperties: 1,
        maxProperties: MAX_TEMPLATES,
      },
    ),
    mergePolicy: Type.Union(
      MERGE_POLICIES.map((m) => Type.Literal(m)),
      {
        description:
          'Replace: the Secret holds only the template keys. Merge: the keys read plus the template keys (a template key wins).',
        default: 'Replace',
      },
    ),
  },
  { description: 'Build Secret keys with templates.' },
);

export const TargetSchema = Type.Object(
  {
    name: Type.Optional(dnsSubdomain("Name of the Secret to write. Absent: the SecretSync's name.")),
    type: Type.String({
      description: `Secret type. Default: Opaque. One of ${SAFE_SECRET_TYPES.join(', ')}, or a custom type outside the kubernetes.io/ and k8s.io/ prefixes that the operator allows (--allowed-secret-types).`,
      default: 'Opaque',
      minLength: 1,
      maxLength: 253,
      'x-kubernetes-validations': [
        cel(
          `self in [${SAFE_SECRET_TYPES.map((t) => `'${t}'`).join(', ')}] || !self.matches(${celString(TYPE_PREFIX_PATTERN)})`,
          `type must be one of ${SAFE_SECRET_TYPES.join(', ')}, or a custom type outside the kubernetes.io/ and k8s.io/ prefixes`,
        ),
      ],
    }),
    labels: Type.Optional(targetMap('Extra labels on the Secret (values up to 63 characters).', 63)),
    annotations: Type.Optional(targetMap('Extra annotations on the Secret (values up to 4096 characters).', 4096)),
    immutable: Type.Boolean({
      description:
        'Write an immutable Secret; a change in Vault replaces it (deleted and recreated under the same name).',
      default: false,
    }),
    deletionPolicy: Type.Union([Type.Literal('Delete'), Type.Literal('Retain')], {
      description: 'Delete: the Secret is owned by the SecretSync and deleted with it. Retain: it is left behind.',
      default: 'Delete',
    }),
  },
  { description: 'The Secret that is written.', default: {} },
);

export const RefreshSchema = Type.Object(
  {
    interval: Type.Optional(
      Type.String({
        description: `How often Vault is read again, as a Go duration (30s, 15m, 1h). At least ${MIN_REFRESH_INTERVAL}; the operator's --refresh-min may raise it. Absent: the controller's --refresh-default.`,
        maxLength: 32,
        pattern: DURATION,
        'x-kubernetes-validations': [
          cel(
            `duration(self) >= duration('${MIN_REFRESH_INTERVAL}')`,
            `refresh.interval must be at least ${MIN_REFRESH_INTERVAL}`,
          ),
          cel(`duration(self) <= duration('8760h')`, 'refresh.interval must be at most 8760h'),
        ],
      }),
    ),
    policy: Type.Optional(
      Type.Union([Type.Literal('Periodic'), Type.Literal('OnChange'), Type.Literal('CreatedOnce')], {
        description:
          'When Vault is read again (docs/refresh.md). Periodic: every interval. OnChange: only when the spec changes (generation), a webhook push arrives or the vaultsync.io/force-sync annotation gets a new value; a Secret deleted or edited by hand is written again. CreatedOnce: the Secret is written once and, while it exists, never read for or written again (deleted, it is created again). Default: Periodic.',
        default: 'Periodic',
      }),
    ),
  },
  { description: 'When Vault is read again.', default: {} },
);

/** Workload kinds a SecretSync may restart (apps/v1). */
export const ROLLOUT_KINDS = ['Deployment', 'StatefulSet', 'DaemonSet'] as const;

export const RolloutRestartTargetSchema = Type.Object({
  kind: Type.Union([Type.Literal('Deployment'), Type.Literal('StatefulSet'), Type.Literal('DaemonSet')], {
    description: 'Kind of the workload (apps/v1).',
  }),
  name: dnsSubdomain("Name of the workload in the SecretSync's namespace."),
});

export const SecretSyncSpecSchema = Type.Object(
  {
    vault: VaultSchema,
    auth: AuthSchema,
    data: Type.Optional(dataList('Keys to pick and rename from spec.vault.kv. Absent: every key of the Vault secret.')),
    sources: Type.Optional(
      Type.Array(SourceItemSchema, {
        description:
          'Several sources merged into one Secret (docs/rendering.md says how). Exactly one of spec.vault.kv and spec.sources.',
        minItems: 1,
        maxItems: MAX_SOURCES,
        'x-kubernetes-validations': [
          cel(
            'self.all(a, !has(a.name) || self.exists_one(b, has(b.name) && b.name == a.name))',
            'source names must be unique',
          ),
        ],
      }),
    ),
    template: Type.Optional(TemplateSchema),
    target: TargetSchema,
    refresh: RefreshSchema,
    rolloutRestartTargets: Type.Optional(
      Type.Array(RolloutRestartTargetSchema, {
        description:
          "Workloads in this namespace to restart, the way `kubectl rollout restart` does, when (and only when) the Secret's data changes: their pod template gets the vaultsync.io/restartedAt and vaultsync.io/restart-digest annotations. Not at the first sync, not for a refresh that changes nothing; a missing workload is a Warning event, not a failed sync (docs/refresh.md).",
        minItems: 1,
        maxItems: 16,
        'x-kubernetes-list-type': 'map',
        'x-kubernetes-list-map-keys': ['kind', 'name'],
      }),
    ),
  },
  {
    description: 'What to read from Vault and which Secret to write.',
    'x-kubernetes-validations': [
      cel('has(self.vault.kv) != has(self.sources)', 'exactly one of spec.vault.kv and spec.sources must be set'),
      cel(
        '!has(self.data) || has(self.vault.kv)',
        'spec.data picks from spec.vault.kv; with spec.sources, put data in each source',
      ),
      cel(
        `!has(self.refresh.policy) || self.refresh.policy != 'CreatedOnce' || !has(self.sources) || self.sources.all(s, ${EXPIRING_SOURCE_KINDS.map((k) => `!has(s.${k})`).join(' && ')})`,
        CREATED_ONCE_EXPIRING_MESSAGE,
        { fieldPath: '.refresh.policy' },
      ),
    ],
  },
);

export const ConditionSchema = Type.Object({
  type: Type.String({ maxLength: 316 }),
  status: Type.Union([Type.Literal('True'), Type.Literal('False'), Type.Literal('Unknown')]),
  observedGeneration: Type.Optional(Type.Integer({ minimum: 0 })),
  lastTransitionTime: Type.String({ format: 'date-time' }),
  reason: Type.String({ maxLength: 1024 }),
  message: Type.String({ maxLength: 32768 }),
});

export const SecretSyncStatusSchema = Type.Object({
  conditions: Type.Optional(
    Type.Array(ConditionSchema, { 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['type'] }),
  ),
  observedGeneration: Type.Optional(Type.Integer()),
  secretName: Type.Optional(Type.String()),
  vaultVersion: Type.Optional(Type.Integer()),
  sourceVersions: Type.Optional(
    Type.Array(Type.Integer(), {
      description: 'With several sources: the version of each, in the order of spec.sources.',
      maxItems: MAX_SOURCES,
    }),
  ),
  lastSyncTime: Type.Optional(Type.String({ format: 'date-time' })),
  certificateNotAfter: Type.Optional(
    Type.String({
      format: 'date-time',
      description:
        'With pki sources: when the soonest of the certificates in the Secret expires (its notAfter); a new one is issued before.',
    }),
  ),
  lastForceSync: Type.Optional(
    Type.String({
      description:
        'The vaultsync.io/force-sync annotation value last handled (values over 253 characters as sha256:<hex> of it): a new value means one fresh read.',
      maxLength: 300,
    }),
  ),
});

export type SecretSyncSpec = Static<typeof SecretSyncSpecSchema>;
export type SecretSyncStatus = Static<typeof SecretSyncStatusSchema>;
export type Condition = Static<typeof ConditionSchema>;
export type DataItem = Static<typeof DataItemSchema>;
export type AllKeys = Static<typeof AllKeysSchema>;
export type SourceItem = Static<typeof SourceItemSchema>;
export type TemplateSpec = Static<typeof TemplateSchema>;
export type DecodingStrategy = (typeof DECODING_STRATEGIES)[number];
export type RefreshPolicy = NonNullable<Static<typeof RefreshSchema>['policy']>;
export type RolloutRestartTarget = Static<typeof RolloutRestartTargetSchema>;

/** Object metadata fields the controller relies on (a subset of ObjectMeta). */
export interface ObjectMeta {
  name: string;
  namespace: string;
  uid: string;
  generation?: number;
  resourceVersion?: string;
  deletionTimestamp?: string;
  creationTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

export interface SecretSync {
  apiVersion: typeof API_VERSION;
  kind: typeof KIND;
  metadata: ObjectMeta;
  spec: SecretSyncSpec;
  status?: SecretSyncStatus;
}

export type AnySchema = TSchema;
