import { CloneType, Type, type TSchema } from '@sinclair/typebox';
import { Value, ValueErrorType, type ValueError } from '@sinclair/typebox/value';
import { SyncError } from '../errors.js';
import { parseDuration } from './duration.js';
import { formatPath } from './paths.js';
import {
  API_VERSION,
  CREATED_ONCE_EXPIRING_MESSAGE,
  EXPIRING_SOURCE_KINDS,
  KIND,
  MIN_REFRESH_INTERVAL,
  RESERVED_KEY_PATTERN,
  SAFE_SECRET_TYPES,
  SECRET_KEY_PATTERN,
  SOURCE_KINDS,
  SecretSyncSpecSchema,
  SecretSyncStatusSchema,
  type DataItem,
  type SecretSync,
  type SecretSyncSpec,
} from './schema.js';

export type ValidationResult = { ok: true; value: SecretSync } | { ok: false; errors: string[] };

const MAX_REFRESH_INTERVAL = '8760h';
/** How many problems an InvalidSpec message lists; the rest are counted. */
const MAX_LISTED_ERRORS = 5;

const MetadataSchema = Type.Object({
  name: Type.String({ minLength: 1 }),
  namespace: Type.String({ minLength: 1 }),
  uid: Type.String({ minLength: 1 }),
  generation: Type.Optional(Type.Integer()),
  resourceVersion: Type.Optional(Type.String()),
  deletionTimestamp: Type.Optional(Type.String()),
  creationTimestamp: Type.Optional(Type.String()),
  labels: Type.Optional(Type.Record(Type.String(), Type.String())),
  annotations: Type.Optional(Type.Record(Type.String(), Type.String())),
});

/**
 * A whole SecretSync as the controller reads it. `format` keywords are dropped from the status
 * schema: TypeBox refuses formats nobody registered (a global registry), and the API server has
 * already checked them.
 */
function resourceSchema() {
  return Type.Object({
    apiVersion: Type.Literal(API_VERSION),
    kind: Type.Literal(KIND),
    metadata: MetadataSchema,
    spec: SecretSyncSpecSchema,
    status: Type.Optional(withoutFormats(SecretSyncStatusSchema)),
  });
}

/**
 * Checks an object against the SecretSync schema after applying its defaults (to a copy; the input
 * is not changed), then against the rules the CRD states in CEL (specRuleErrors). Errors name the
 * field path and the rule, never the field's value: `spec.target.name: must match ^[a-z0-9]...`.
 */
export function validateSecretSync(obj: unknown): ValidationResult {
  const schema = resourceSchema();
  const value: unknown = Value.Default(schema, Value.Clone(obj));
  if (!Value.Check(schema, value)) return { ok: false, errors: describeErrors(Value.Errors(schema, value)) };
  const ruleErrors = specRuleErrors(value.spec);
  if (ruleErrors.length > 0) return { ok: false, errors: ruleErrors };
  return { ok: true, value };
}

/**
 * validateSecretSync for the reconcile path: the valid object, or a terminal SyncError('InvalidSpec')
 * listing what is wrong. Catches objects that bypassed admission (an older CRD, a disabled rule).
 */
export function parseSecretSync(obj: unknown): SecretSync {
  const result = validateSecretSync(obj);
  if (result.ok) return result.value;
  const listed = result.errors.slice(0, MAX_LISTED_ERRORS).join('; ');
  const more = result.errors.length - MAX_LISTED_ERRORS;
  throw new SyncError('InvalidSpec', `invalid SecretSync: ${listed}${more > 0 ? ` (and ${more} more)` : ''}`);
}

/**
 * The rules the CRD enforces with CEL or list keys, checked in code, for a spec that already
 * matches the schema. One message per broken rule, each naming the field path.
 */
export function specRuleErrors(spec: SecretSyncSpec): string[] {
  const errors: string[] = [];
  if (spec.vault.kv !== undefined) errors.push(...kvPathErrors(spec.vault.kv.path, 'spec.vault.kv.path'));
  errors.push(...sourceErrors(spec));
  const address = spec.vault.address;
  if (address !== undefined && !isHttpUrl(address)) {
    errors.push('spec.vault.address: must be an http:// or https:// URL');
  }
  if (spec.vault.caBundle !== undefined && !spec.vault.caBundle.includes('-----BEGIN CERTIFICATE-----')) {
    errors.push('spec.vault.caBundle: must be PEM certificates');
  }
  if (spec.refresh.interval !== undefined) errors.push(...intervalErrors(spec.refresh.interval));
  errors.push(...targetErrors(spec.target));
  errors.push(...uniqueSecretKeys(spec.data, 'spec.data'));
  return errors;
}

function kvPathErrors(path: string, field: string): string[] {
  const segments = path.split('/');
  return segments.some((s) => s === '' || s === '.' || s === '..')
    ? [`${field}: must not contain empty, . or .. segments`]
    : [];
}

function uniqueSecretKeys(data: readonly DataItem[] | undefined, field: string): string[] {
  const errors: string[] = [];
  const firstIndex = new Map<string, number>();
  data?.forEach((item, i) => {
    const first = firstIndex.get(item.secretKey);
    if (first === undefined) firstIndex.set(item.secretKey, i);
    else errors.push(`${field}[${i}].secretKey: must be unique; ${field}[${first}] has the same secretKey`);
  });
  return errors;
}

/**
 * Exactly one of spec.vault.kv and spec.sources; each item of exactly one kind; unique names; no
 * refresh.policy CreatedOnce with sources that expire (database, pki); and no secretKey picked by
 * two items. The last is checked here only (before any Vault read): a CEL
 * rule comparing every pick of every pair of items would cost far beyond the API server's budget.
 * reconcile checks these again (the informer keeps an object that failed validation as it is).
 */
export function sourceErrors(spec: SecretSyncSpec): string[] {
  const errors: string[] = [];
  if ((spec.vault.kv === undefined) === (spec.sources === undefined)) {
    errors.push('spec: exactly one of spec.vault.kv and spec.sources must be set');
  }
  if (spec.data !== undefined && spec.vault.kv === undefined) {
    errors.push('spec: spec.data picks from spec.vault.kv; with spec.sources, put data in each source');
  }
  const names = new Map<string, number>();
  const pickedBy = new Map<string, number>();
  spec.sources?.forEach((item, i) => {
    const field = `spec.sources[${i}]`;
    const kinds = SOURCE_KINDS.filter((k) => item[k] !== undefined);
    if (kinds.length !== 1) errors.push(`${field}: a source must have exactly one of ${SOURCE_KINDS.join(', ')}`);
    if (item.kv !== undefined) errors.push(...kvPathErrors(item.kv.path, `${field}.kv.path`));
    if (item.name !== undefined) {
      const first = names.get(item.name);
      if (first === undefined) names.set(item.name, i);
      else errors.push(`${field}.name: source names must be unique; spec.sources[${first}] has the same name`);
    }
    errors.push(...uniqueSecretKeys(item.data, `${field}.data`));
    for (const secretKey of new Set(item.data?.map((d) => d.secretKey))) {
      const first = pickedBy.get(secretKey);
      if (first === undefined) pickedBy.set(secretKey, i);
      else
        errors.push(
          `${field}.data: secretKey ${JSON.stringify(secretKey)} is also picked by spec.sources[${first}]; a Secret key may come from one pick only`,
        );
    }
  });
  if (spec.refresh.policy === 'CreatedOnce') {
    const expiring = (spec.sources ?? []).flatMap((item, i) =>
      EXPIRING_SOURCE_KINDS.filter((k) => item[k] !== undefined).map((k) => `spec.sources[${i}].${k}`),
    );
    if (expiring.length > 0)
      errors.push(`spec.refresh.policy: ${CREATED_ONCE_EXPIRING_MESSAGE} (${expiring.join(', ')})`);
  }
  const templateKeys = Object.keys(spec.template?.data ?? {}).filter((k) => secretKeyProblem(k) !== undefined);
  if (templateKeys.length > 0) {
    errors.push(
      'spec.template.data: template keys must be valid Secret keys: letters, digits, -, _ and ., at most 253 characters',
    );
  }
  return errors;
}

const SECRET_KEY = new RegExp(SECRET_KEY_PATTERN);
const secretKeyProblem = (k: string) => (k.length <= 253 && SECRET_KEY.test(k) ? undefined : 'invalid');

const RESERVED_KEY = new RegExp(RESERVED_KEY_PATTERN);
const KUBERNETES_TYPE = /^([^/]*\.)?(kubernetes\.io|k8s\.io)\//;

/** The CRD's rules on spec.target, for SecretSyncs admitted before them (an older CRD). */
function targetErrors(target: SecretSyncSpec['target']): string[] {
  const errors: string[] = [];
  const safe: readonly string[] = SAFE_SECRET_TYPES;
  if (!safe.includes(target.type) && KUBERNETES_TYPE.test(target.type)) {
    errors.push(
      `spec.target.type: must be one of ${SAFE_SECRET_TYPES.join(', ')}, or a custom type outside the kubernetes.io/ and k8s.io/ prefixes`,
    );
  }
  for (const field of ['labels', 'annotations'] as const) {
    const reserved = Object.keys(target[field] ?? {}).filter(
      (k) => (RESERVED_KEY.test(k) && !k.startsWith('app.kubernetes.io/')) || k === 'app.kubernetes.io/managed-by',
    );
    if (reserved.length > 0) {
      errors.push(
        `spec.target.${field}: keys in the kubernetes.io/, k8s.io/ and vaultsync.io/ prefixes are reserved (${reserved.join(', ')})`,
      );
    }
  }
  return errors;
}

function intervalErrors(interval: string): string[] {
  let ms: number;
  try {
    ms = parseDuration(interval);
  } catch {
    // The schema pattern admitted it, so only Go's range can be exceeded here.
    return ['spec.refresh.interval: must be a Go duration within range, such as 30s, 15m or 1h'];
  }
  if (ms < parseDuration(MIN_REFRESH_INTERVAL))
    return [`spec.refresh.interval: must be at least ${MIN_REFRESH_INTERVAL}`];
  if (ms > parseDuration(MAX_REFRESH_INTERVAL))
    return [`spec.refresh.interval: must be at most ${MAX_REFRESH_INTERVAL}`];
  return [];
}

// The CRD rule's isURL() plus scheme check. WHATWG parsing is slightly stricter than Go's url.Parse
// (it refuses `https://` with no host), which only turns a useless address into a clear InvalidSpec.
function isHttpUrl(text: string): boolean {
  return URL.canParse(text) && (text.startsWith('https://') || text.startsWith('http://'));
}

/** One message per problem, by field path; a missing field is reported once, not also as "not a string". */
function describeErrors(errors: Iterable<ValueError>): string[] {
  const list = [...errors];
  const missing = new Set(list.filter((e) => e.type === ValueErrorType.ObjectRequiredProperty).map((e) => e.path));
  const out = new Set<string>();
  for (const e of list) {
    if (e.type !== ValueErrorType.ObjectRequiredProperty && missing.has(e.path)) continue;
    out.add(`${formatPath(e.path)}: ${describe(e)}`);
  }
  return [...out];
}

// Messages are built from the schema only; the offending value never appears in them.
function describe(e: ValueError): string {
  const s = e.schema as Record<string, unknown>;
  const n = (key: string) => String(s[key]);
  switch (e.type) {
    case ValueErrorType.ObjectRequiredProperty:
      return 'is required';
    case ValueErrorType.StringPattern:
      return `must match ${n('pattern')}`;
    case ValueErrorType.StringMinLength:
      return s.minLength === 1 ? 'must not be empty' : `must be at least ${n('minLength')} characters long`;
    case ValueErrorType.StringMaxLength:
      return `must be at most ${n('maxLength')} characters long`;
    case ValueErrorType.IntegerMinimum:
    case ValueErrorType.NumberMinimum:
      return `must be at least ${n('minimum')}`;
    case ValueErrorType.IntegerMaximum:
    case ValueErrorType.NumberMaximum:
      return `must be at most ${n('maximum')}`;
    case ValueErrorType.ArrayMinItems:
      return `must have at least ${n('minItems')} item(s)`;
    case ValueErrorType.ArrayMaxItems:
      return `must have at most ${n('maxItems')} items`;
    case ValueErrorType.ObjectMaxProperties:
      return `must have at most ${n('maxProperties')} entries`;
    case ValueErrorType.String:
      return 'must be a string';
    case ValueErrorType.Integer:
      return 'must be an integer';
    case ValueErrorType.Number:
      return 'must be a number';
    case ValueErrorType.Boolean:
      return 'must be a boolean';
    case ValueErrorType.Object:
      return 'must be an object';
    case ValueErrorType.Array:
      return 'must be an array';
    case ValueErrorType.Literal:
      return `must be ${JSON.stringify(s.const)}`;
    case ValueErrorType.Union:
      return unionMessage(s);
    default:
      // TypeBox's own messages describe the schema, not the value.
      return e.message;
  }
}

function unionMessage(s: Record<string, unknown>): string {
  const members = (s.anyOf ?? []) as Record<string, unknown>[];
  const literals = members.map((m) => m.const);
  if (literals.length > 0 && literals.every((v) => v !== undefined)) {
    return `must be one of ${literals.map((v) => JSON.stringify(v)).join(', ')}`;
  }
  return 'does not match any allowed form';
}

function withoutFormats<T extends TSchema>(schema: T): T {
  const copy = CloneType(schema);
  const strip = (node: unknown): void => {
    if (typeof node !== 'object' || node === null) return;
    const record = node as Record<string, unknown>;
    if (typeof record.format === 'string') delete record.format;
    for (const child of Object.values(record)) strip(child);
  };
  strip(copy);
  return copy;
}
