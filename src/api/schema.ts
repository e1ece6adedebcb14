import { Type, type Static, type TSchema } from '@sinclair/typebox';

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
    kv: VaultKvSchema,
  },
  { description: 'Where the secret lives in Vault.' },
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

export const DataItemSchema = Type.Object({
  secretKey: Type.String({
    description: 'Key in the Secret.',
    minLength: 1,
    maxLength: 253,
    pattern: SECRET_KEY_PATTERN,
  }),
  property: Type.String({ description: 'Key in the Vault secret.', minLength: 1, maxLength: 1024 }),
});

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
  },
  { description: 'Periodic refresh.', default: {} },
);

export const SecretSyncSpecSchema = Type.Object(
  {
    vault: VaultSchema,
    auth: AuthSchema,
    data: Type.Optional(
      Type.Array(DataItemSchema, {
        description: 'Keys to pick and rename. Absent: every key of the Vault secret.',
        minItems: 1,
        maxItems: 256,
        // Unique secretKeys, enforced by the API server as a list-map key. (A CEL rule comparing every
        // pair was estimated at 7M cost units; with 256 long keys it hit the 1M per-call limit at admission.)
        'x-kubernetes-list-type': 'map',
        'x-kubernetes-list-map-keys': ['secretKey'],
      }),
    ),
    target: TargetSchema,
    refresh: RefreshSchema,
  },
  { description: 'What to read from Vault and which Secret to write.' },
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
  lastSyncTime: Type.Optional(Type.String({ format: 'date-time' })),
});

export type SecretSyncSpec = Static<typeof SecretSyncSpecSchema>;
export type SecretSyncStatus = Static<typeof SecretSyncStatusSchema>;
export type Condition = Static<typeof ConditionSchema>;
export type DataItem = Static<typeof DataItemSchema>;

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
