import type { AllKeys, DataItem, DecodingStrategy, SourceItem } from '../api/index.js';
import { SyncError } from '../errors.js';
import { decodeValue } from './decode.js';
import { lookupProperty } from './property.js';
import { quoteName, renderValue, secretKeyProblem } from './values.js';
import { compileRewrite } from './rewrite.js';

/*
 * From one source item's raw values to Secret keys, then several items into one Secret
 * (kept in step with docs/rendering.md, "Several sources"):
 *
 *   - an item's `data` picks keys explicitly; its `allKeys` takes every key (of the secret or of a
 *     nested object), renamed by rewrites and a prefix; an item with neither takes every top-level key;
 *   - all-keys keys merge in source order, a later source's key replacing an earlier one's
 *     (defaults first, overrides after: ESO's dataFrom order);
 *   - picks win over all-keys keys of any source; the same secretKey picked by two sources is
 *     refused (InvalidSpec; the controller checks it before reading Vault);
 *   - within one item, two keys that rewrite to the same name fail with InvalidSecretKey.
 */

/** Secret values are bytes: a Base64-decoded value need not be UTF-8. */
export type Values = Map<string, Buffer>;

export interface ItemValues {
  /** Keys the item's `data` names. */
  picked: Values;
  /** Keys its allKeys (or the implicit every-key) produced. */
  all: Values;
}

/** Renders one source item. `where` names the Vault secret (`secret/app version 3`), `field` the
 *  spec item (`spec.sources[1]`); names appear in messages, values never do. */
export function renderItem(item: SourceItem, data: Record<string, unknown>, where: string, field: string): ItemValues {
  const picked = item.data === undefined ? new Map<string, Buffer>() : pick(item.data, data, where, field);
  const all =
    item.allKeys !== undefined
      ? allKeys(item.allKeys, data, where, field)
      : item.data === undefined
        ? allKeys({}, data, where, field)
        : new Map<string, Buffer>();
  return { picked, all };
}

function pick(items: readonly DataItem[], data: Record<string, unknown>, where: string, field: string): Values {
  const out: Values = new Map();
  for (const { secretKey, property, decodingStrategy } of items) {
    const problem = secretKeyProblem(secretKey);
    if (problem !== undefined) {
      throw new SyncError(
        'InvalidSpec',
        `${dataField(field)} secretKey ${quoteName(secretKey)} is not a valid Secret key: ${problem}`,
      );
    }
    if (out.has(secretKey)) {
      throw new SyncError('InvalidSpec', `${dataField(field)} names secretKey ${quoteName(secretKey)} more than once`);
    }
    const found = lookupProperty(data, property);
    if (!found.found) {
      throw new SyncError(
        'PropertyNotFound',
        `property ${quoteName(property)} not found in Vault secret ${where}: fix ${dataField(field)} or add it in Vault`,
      );
    }
    out.set(secretKey, valueBytes(found.value, property, where, decodingStrategy));
  }
  return out;
}

function allKeys(spec: AllKeys, data: Record<string, unknown>, where: string, field: string): Values {
  let object: unknown = data;
  if (spec.property !== undefined) {
    const found = lookupProperty(data, spec.property);
    if (!found.found) {
      throw new SyncError(
        'PropertyNotFound',
        `property ${quoteName(spec.property)} not found in Vault secret ${where}: fix ${field}.allKeys.property or add it in Vault`,
      );
    }
    object = found.value;
    if (typeof object !== 'object' || object === null || Array.isArray(object)) {
      throw new SyncError(
        'BadVaultData',
        `property ${quoteName(spec.property)} of Vault secret ${where} is not a JSON object, so it has no keys to take: fix ${field}.allKeys.property`,
      );
    }
  }
  const source = object as Record<string, unknown>;
  const keys = Object.keys(source);
  // An empty version is almost always a mistake (a write without fields); writing it would blank the Secret.
  if (keys.length === 0) {
    throw new SyncError(
      'BadVaultData',
      `Vault secret ${where}${spec.property === undefined ? '' : ` property ${quoteName(spec.property)}`} has no keys, so there is nothing to write: add keys in Vault or point ${field} at the right path`,
    );
  }
  const rewrites = (spec.rewrite ?? []).map((r, i) => {
    const compiled = compileRewrite(r.regex, r.replacement);
    if ('error' in compiled) {
      throw new SyncError(
        'InvalidSpec',
        `${field}.allKeys.rewrite[${i}].regex is not a usable RE2 expression: ${compiled.error}`,
      );
    }
    return compiled;
  });
  const out: Values = new Map();
  const from = new Map<string, string>();
  for (const key of keys) {
    const name = (spec.prefix ?? '') + rewrites.reduce((k, r) => r.apply(k), key);
    const problem = secretKeyProblem(name);
    if (problem !== undefined) {
      const renamed = name === key ? '' : ` (renamed to ${quoteName(name)})`;
      throw new SyncError(
        'InvalidSecretKey',
        `Vault key ${quoteName(key)} of ${where}${renamed} cannot be a Secret key (${problem}): ${keyFixes(field)}`,
      );
    }
    const earlier = from.get(name);
    if (earlier !== undefined) {
      throw new SyncError(
        'InvalidSecretKey',
        `Vault keys ${quoteName(earlier)} and ${quoteName(key)} of ${where} both become Secret key ${quoteName(name)}: change ${field}.allKeys.rewrite or prefix`,
      );
    }
    from.set(name, key);
    out.set(name, valueBytes(source[key], key, where, spec.decodingStrategy));
  }
  return out;
}

function valueBytes(value: unknown, property: string, where: string, strategy: DecodingStrategy | undefined): Buffer {
  const text = renderValue(value, property, where);
  const bytes = decodeValue(text, strategy);
  if (bytes === undefined) {
    throw new SyncError(
      'BadVaultData',
      `property ${quoteName(property)} of Vault secret ${where} is not valid ${strategy ?? ''}: store it encoded or drop decodingStrategy`,
    );
  }
  return bytes;
}

/** Merges rendered items (see the rules at the top of this file). `fields` name the items in messages. */
export function mergeItems(items: readonly ItemValues[], fields: readonly string[]): Values {
  const out: Values = new Map();
  for (const { all } of items) for (const [k, v] of all) out.set(k, v);
  const pickedBy = new Map<string, number>();
  items.forEach(({ picked }, i) => {
    for (const [k, v] of picked) {
      const first = pickedBy.get(k);
      if (first !== undefined) {
        throw new SyncError(
          'InvalidSpec',
          `${fields[i] ?? ''}.data and ${fields[first] ?? ''}.data both pick secretKey ${quoteName(k)}: a Secret key may come from one pick only`,
        );
      }
      pickedBy.set(k, i);
      out.set(k, v);
    }
  });
  return out;
}

const dataField = (field: string) => (field === 'spec.vault.kv' ? 'spec.data' : `${field}.data`);

/** How to fix a Vault key that cannot be a Secret key: the shorthand has no allKeys of its own. */
const keyFixes = (field: string) =>
  field === 'spec.vault.kv'
    ? 'rename it in Vault, pick keys with spec.data, or rewrite names with allKeys.rewrite in spec.sources'
    : `rename it in Vault, rewrite it with ${field}.allKeys.rewrite or pick keys with ${field}.data`;
