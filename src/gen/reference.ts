import { CATEGORIES, GENERATED_NOTICE, PRINTER_COLUMNS, SHORT_NAMES, secretSyncOpenApiSchema } from './crd.js';
import { API_VERSION, KIND } from '../api/schema.js';
import type { JsonSchemaProps } from './structural.js';

interface Row {
  path: string;
  schema: JsonSchemaProps;
  required: boolean;
}

/**
 * The field-by-field API reference (docs/reference/secretsync.md), rendered from the same OpenAPI
 * schema that goes into the CRD, so the page states exactly what the API server enforces.
 */
export function renderReference(): string {
  const root = secretSyncOpenApiSchema();
  const section = (name: 'spec' | 'status') => {
    const schema = root.properties?.[name];
    if (schema === undefined) throw new Error(`the SecretSync schema has no ${name}`);
    return table(rows(name, schema, root.required?.includes(name) ?? false));
  };
  return [
    `# ${KIND} API reference`,
    '',
    `<!-- ${GENERATED_NOTICE} (source: src/api/schema.ts) -->`,
    '',
    `\`apiVersion: ${API_VERSION}\`, \`kind: ${KIND}\`, namespaced.`,
    `Short name \`${SHORT_NAMES.join('`, `')}\`; category \`${CATEGORIES.join('`, `')}\` (\`kubectl get ${CATEGORIES.join(',')}\`).`,
    '',
    oneLine(root.description ?? ''),
    '',
    'A field is required when the API server rejects an object without it; fields with a default are filled in',
    'by the API server when absent. Paths use `[]` for list items and `[*]` for map values. CEL rules are',
    'checked at admission; the controller checks them again and reports `InvalidSpec` if one was bypassed.',
    '',
    '## spec',
    '',
    section('spec'),
    '',
    '## status',
    '',
    'Written by the controller only.',
    '',
    section('status'),
    '',
    '## Printer columns',
    '',
    '`kubectl get secretsync` (or `ssync`) shows the columns without a priority; `-o wide` adds the others.',
    '',
    '| Column | Type | JSONPath | Shown |',
    '| --- | --- | --- | --- |',
    ...PRINTER_COLUMNS.map(
      (c) =>
        `| ${cell(c.name)} | ${c.type} | ${code(c.jsonPath)} | ${c.priority ? '`-o wide`' : 'always'}${c.description ? `: ${cell(c.description).replaceAll('<', '&lt;')}` : ''} |`,
    ),
    '',
  ].join('\n');
}

function rows(path: string, schema: JsonSchemaProps, required: boolean): Row[] {
  const out: Row[] = [{ path, schema, required }];
  out.push(...children(path, schema));
  const inner = schema.items ?? schema.additionalProperties;
  if (inner !== undefined) {
    const innerPath = schema.items === undefined ? `${path}[*]` : `${path}[]`;
    // List items and map values get their own row only when something is said about them.
    if (inner.properties !== undefined) out.push(...children(innerPath, inner));
    else if (validation(inner).length > 0 || inner.description !== undefined) {
      out.push({ path: innerPath, schema: inner, required: false });
    }
  }
  return out;
}

function children(path: string, schema: JsonSchemaProps): Row[] {
  return Object.entries(schema.properties ?? {}).flatMap(([name, child]) =>
    rows(`${path}.${name}`, child, schema.required?.includes(name) ?? false),
  );
}

function table(list: Row[]): string {
  const header = [
    '| Field | Type | Default | Required | Description | Validation |',
    '| --- | --- | --- | --- | --- | --- |',
  ];
  return [
    ...header,
    ...list.map(({ path, schema, required }) => {
      const defaulted = schema.default !== undefined;
      const columns = [
        code(path),
        typeName(schema),
        defaulted ? cell(code(JSON.stringify(schema.default))) : '',
        required && !defaulted ? 'yes' : 'no',
        cell(oneLine(schema.description ?? '')),
        validation(schema).map(cell).join('<br>'),
      ];
      return `| ${columns.join(' | ')} |`;
    }),
  ].join('\n');
}

function typeName(schema: JsonSchemaProps): string {
  if (schema.type === 'array') return `[]${schema.items ? typeName(schema.items) : 'unknown'}`;
  if (schema.type === 'object' && schema.additionalProperties !== undefined) {
    return `map[string]${typeName(schema.additionalProperties)}`;
  }
  return schema.format === undefined ? (schema.type ?? 'unknown') : `${schema.type ?? 'unknown'} (${schema.format})`;
}

/** Everything the API server checks on this node, one entry each. Built from the schema, never by hand. */
function validation(s: JsonSchemaProps): string[] {
  const out: string[] = [];
  if (s.enum !== undefined) out.push(`one of ${s.enum.map((v) => code(String(v))).join(', ')}`);
  out.push(...bounds('length', s.minLength, s.maxLength));
  if (s.pattern !== undefined) out.push(`pattern ${code(s.pattern)}`);
  out.push(...bounds('value', s.minimum, s.maximum));
  out.push(...bounds('items', s.minItems, s.maxItems));
  out.push(...bounds('entries', s.minProperties, s.maxProperties));
  if (s['x-kubernetes-list-type'] === 'map') {
    out.push(`items unique by ${(s['x-kubernetes-list-map-keys'] ?? []).map(code).join(', ')}`);
  }
  if (s['x-kubernetes-list-type'] === 'set') out.push('items unique');
  for (const rule of s['x-kubernetes-validations'] ?? []) {
    out.push(`CEL ${code(rule.rule)}${rule.message === undefined ? '' : `: "${rule.message}"`}`);
  }
  return out;
}

function bounds(what: string, min: number | undefined, max: number | undefined): string[] {
  if (min !== undefined && max !== undefined) return [`${what} ${min}..${max}`];
  if (min !== undefined) return [`${what} ≥ ${min}`];
  if (max !== undefined) return [`${what} ≤ ${max}`];
  return [];
}

function code(text: string): string {
  return `\`${text}\``;
}

function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ');
}

// GitHub tables split on `|` even inside code spans unless it is escaped.
function cell(text: string): string {
  return text.replaceAll('|', '\\|');
}
