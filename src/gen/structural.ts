import { PatternStringExact, type TSchema } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';

/** A CEL rule as the CRD carries it (`x-kubernetes-validations[]`). */
export interface ValidationRule {
  rule: string;
  message?: string;
  messageExpression?: string;
  reason?: string;
  fieldPath?: string;
}

/** The subset of apiextensions.k8s.io/v1 JSONSchemaProps that the generated CRD uses. */
export interface JsonSchemaProps {
  description?: string;
  type?: 'object' | 'array' | 'string' | 'integer' | 'number' | 'boolean';
  format?: string;
  enum?: (string | number | boolean)[];
  default?: unknown;
  minimum?: number;
  maximum?: number;
  multipleOf?: number;
  minLength?: number;
  maxLength?: number;
  pattern?: string;
  minItems?: number;
  maxItems?: number;
  minProperties?: number;
  maxProperties?: number;
  required?: string[];
  properties?: Record<string, JsonSchemaProps>;
  additionalProperties?: JsonSchemaProps;
  items?: JsonSchemaProps;
  'x-kubernetes-list-type'?: 'atomic' | 'set' | 'map';
  'x-kubernetes-list-map-keys'?: string[];
  'x-kubernetes-map-type'?: 'granular' | 'atomic';
  'x-kubernetes-validations'?: ValidationRule[];
}

type Json = Record<string, unknown>;

const TYPES = new Set(['object', 'array', 'string', 'integer', 'number', 'boolean']);

// Keywords copied as they are, in the order they appear in the output (structure follows them).
const COPIED = [
  'description',
  'format',
  'default',
  'minimum',
  'maximum',
  'multipleOf',
  'minLength',
  'maxLength',
  'pattern',
  'minItems',
  'maxItems',
  'minProperties',
  'maxProperties',
] as const;
const EXTENSIONS = [
  'x-kubernetes-list-type',
  'x-kubernetes-list-map-keys',
  'x-kubernetes-map-type',
  'x-kubernetes-validations',
] as const;
// Keywords read by the structural translation below; anything else is refused rather than silently dropped.
const TRANSLATED = new Set(['type', 'properties', 'required', 'patternProperties', 'items', 'anyOf', 'const']);
// TypeBox bookkeeping with no meaning for the API server.
const IGNORED = new Set(['$id', '$schema']);

/**
 * Translates a TypeBox schema into a structural OpenAPI v3 schema the API server accepts:
 * symbol keys dropped, `Type.Record(String, X)` as `additionalProperties`, unions of literals as `enum`,
 * defaults completed with the defaults nested inside them.
 * Throws on any construct that has no structural form, naming where it is, so the generator fails
 * instead of emitting a CRD that drops a constraint or that the API server rejects.
 */
export function toStructural(schema: TSchema, path = ''): JsonSchemaProps {
  const s = schema as Json;
  for (const key of Object.keys(s)) {
    const known = TRANSLATED.has(key) || IGNORED.has(key) || (COPIED as readonly string[]).includes(key);
    if (!known && !(EXTENSIONS as readonly string[]).includes(key)) {
      throw new Error(`${where(path)}: keyword ${key} has no structural form in a CRD schema`);
    }
  }
  const out: JsonSchemaProps = {};
  if (typeof s.description === 'string') out.description = s.description;
  Object.assign(out, typeAndEnum(s, path));
  for (const key of COPIED) {
    if (key !== 'description' && s[key] !== undefined) (out as Json)[key] = plainCopy(s[key]);
  }
  // The API server validates a default as written, without applying the defaults nested inside it,
  // so `default: {}` on an object with defaulted required fields would be rejected. Write it out the
  // way TypeBox's Value.Default completes it at runtime, which is what the object ends up as anyway.
  if (s.default !== undefined) out.default = plainCopy(Value.Default(schema, plainCopy(s.default)));
  if (out.type === 'object') Object.assign(out, objectParts(s, path));
  if (out.type === 'array') out.items = toStructural(itemsOf(s, path), `${path}[]`);
  for (const key of EXTENSIONS) {
    if (s[key] !== undefined) (out as Json)[key] = plainCopy(s[key]);
  }
  return out;
}

function typeAndEnum(s: Json, path: string): Pick<JsonSchemaProps, 'type' | 'enum'> {
  if (Array.isArray(s.anyOf)) {
    const members = s.anyOf as Json[];
    const values = members.map((m) => m.const);
    const types = new Set(members.map((m) => m.type));
    const [type] = types;
    const literal = (v: unknown): v is string | number | boolean => ['string', 'number', 'boolean'].includes(typeof v);
    if (s.type !== undefined || types.size !== 1 || !isType(type) || !values.every(literal)) {
      throw new Error(`${where(path)}: only unions of literals of one type can be expressed (as an enum)`);
    }
    return { type, enum: values };
  }
  if (!isType(s.type)) throw new Error(`${where(path)}: every node of a structural schema needs a single type`);
  if (s.const !== undefined) return { type: s.type, enum: [s.const as string | number | boolean] };
  return { type: s.type };
}

function objectParts(s: Json, path: string): Pick<JsonSchemaProps, 'required' | 'properties' | 'additionalProperties'> {
  const out: Pick<JsonSchemaProps, 'required' | 'properties' | 'additionalProperties'> = {};
  const patterns = s.patternProperties as Record<string, TSchema> | undefined;
  if (patterns !== undefined) {
    const keys = Object.keys(patterns);
    const value = patterns[PatternStringExact];
    if (keys.length !== 1 || value === undefined || s.properties !== undefined) {
      throw new Error(`${where(path)}: only Type.Record(Type.String(), ...) maps can be expressed`);
    }
    out.additionalProperties = toStructural(value, `${path}[*]`);
    return out;
  }
  const required = s.required as string[] | undefined;
  if (required !== undefined && required.length > 0) out.required = [...required];
  const properties = (s.properties ?? {}) as Record<string, TSchema>;
  out.properties = Object.fromEntries(
    Object.entries(properties).map(([name, child]) => [name, toStructural(child, path ? `${path}.${name}` : name)]),
  );
  return out;
}

function itemsOf(s: Json, path: string): TSchema {
  const items = s.items;
  if (items === undefined || Array.isArray(items) || typeof items !== 'object' || items === null) {
    throw new Error(`${where(path)}: arrays need a single items schema (tuples have no structural form)`);
  }
  return items as TSchema;
}

function isType(t: unknown): t is NonNullable<JsonSchemaProps['type']> {
  return typeof t === 'string' && TYPES.has(t);
}

/** A deep copy holding only JSON data: string keys, no symbols, no shared references. */
function plainCopy(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(plainCopy);
  if (typeof v === 'object' && v !== null) {
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plainCopy(x)]));
  }
  return v;
}

function where(path: string): string {
  return path === '' ? 'schema root' : path;
}
