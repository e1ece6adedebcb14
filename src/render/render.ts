import type { DataItem, SourceItem, TemplateSpec } from '../api/index.js';
import { SyncError } from '../errors.js';
import type { SecretObject } from '../controller/types.js';
import { checkSecretType } from './secret-type.js';
import { mergeItems, renderItem, type Values } from './shape.js';
import { isEnvVarName } from './values.js';

export { isEnvVarName, quoteName, renderValue, secretKeyProblem } from './values.js';

/*
 * How Vault values become Secret values (kept in step with docs/rendering.md):
 *
 *   Vault value            Secret value (before base64)
 *   string                 the string itself, UTF-8
 *   number                 its JSON text: 42, 3.5, 1e+21
 *   boolean                true / false
 *   null                   null   (the JSON text, not an empty string: an empty value would hide
 *                                  that Vault holds a null, and JSON consumers read it back as null)
 *   object / array         compact JSON (JSON.stringify, no spaces, keys in Vault's order)
 *
 * A sync writes every selected key or nothing: a missing property or an unusable key fails the
 * whole sync and the existing Secret stays as it is. A Vault secret with no keys (all-keys mode)
 * fails too, rather than blanking the Secret.
 */

/** The API server's limit on a Secret's size. */
export const MAX_SECRET_BYTES = 1_048_576;
/** Room left for what the API server adds: uid, timestamps, resourceVersion, managedFields. */
export const METADATA_MARGIN_BYTES = 4_096;

export interface RenderedData {
  /** base64 values keyed by Secret key. */
  data: Record<string, string>;
  /** Keys that are valid Secret keys but not environment variable names (envFrom may skip them). */
  nonEnvVarKeys: string[];
}

/**
 * Selects and renames Vault keys (`items`; absent: all keys) and renders their values: one source
 * item, the spec.vault.kv shorthand. `where` names the Vault secret in messages (e.g.
 * `secret/myapp/config version 3`); key and property names appear in messages, values never do.
 */
export function renderData(
  items: readonly DataItem[] | undefined,
  source: Record<string, unknown>,
  where: string,
): RenderedData {
  const rendered = renderItem(items === undefined ? {} : { data: [...items] }, source, where, 'spec.vault.kv');
  return secretData(mergeItems([rendered], ['spec.vault.kv']));
}

/** One source item as read: its spec, its raw values, and names for messages. */
export interface ReadItem {
  item: SourceItem;
  /** `spec.sources[1]` or `spec.vault.kv`. */
  field: string;
  data: Record<string, unknown>;
  /** The Vault secret and version, e.g. `secret/myapp/config version 3`. */
  where: string;
}

/** What the Secret is to hold besides the sources: spec.template and spec.target.type. */
export interface Shaping {
  template?: TemplateSpec | undefined;
  type: string;
}

/**
 * Renders every source item, merges them (shape.ts has the rules), applies the templates
 * (Replace: only their keys; Merge: theirs over the merged ones) and checks the keys the Secret's
 * type requires.
 */
export async function renderSources(reads: readonly ReadItem[], shaping: Shaping): Promise<RenderedData> {
  const items = reads.map((r) => renderItem(r.item, r.data, r.where, r.field));
  let values = mergeItems(
    items,
    reads.map((r) => r.field),
  );
  if (shaping.template !== undefined) {
    const sources = new Map<string, Values>();
    reads.forEach((r, i) => {
      const item = items[i];
      if (r.item.name !== undefined && item !== undefined)
        sources.set(r.item.name, new Map([...item.all, ...item.picked]));
    });
    // liquidjs is loaded on the first SecretSync that has a template (about 20 MiB of RSS an
    // install without templates does not pay; docs/benchmarks.md, issue 14).
    const { renderTemplates } = await import('./template.js');
    const rendered = await renderTemplates(shaping.template, { values, sources });
    values = shaping.template.mergePolicy === 'Merge' ? new Map([...values, ...rendered]) : rendered;
  }
  checkSecretType(shaping.type, values);
  return secretData(values);
}

/** `Vault version 3`, or `Vault versions 3, 7` with several sources. */
export const describeVersions = (versions: readonly number[]): string =>
  versions.length === 1 ? `Vault version ${versions.join('')}` : `Vault versions ${versions.join(', ')}`;

/** The Secret's data (base64) from the final values, and which keys are not env var names. */
export function secretData(values: ReadonlyMap<string, Buffer>): RenderedData {
  // fromEntries defines own properties, so a key such as `__proto__` stays an ordinary key.
  const data = Object.fromEntries([...values].map(([k, v]) => [k, v.toString('base64')]));
  return { data, nonEnvVarKeys: [...values.keys()].filter((k) => !isEnvVarName(k)) };
}

/** Serialized size of the Secret plus METADATA_MARGIN_BYTES and each key once more (managedFields lists it). */
export function estimateSecretBytes(secret: SecretObject): number {
  const keys = Object.keys(secret.data).reduce((n, k) => n + Buffer.byteLength(k, 'utf8') + 8, 0);
  return Buffer.byteLength(JSON.stringify(secret), 'utf8') + keys + METADATA_MARGIN_BYTES;
}

/** Throws SecretTooLarge when the API server would refuse the Secret for its size. */
export function checkSecretSize(secret: SecretObject): void {
  const bytes = estimateSecretBytes(secret);
  if (bytes > MAX_SECRET_BYTES) {
    throw new SyncError(
      'SecretTooLarge',
      `Secret ${secret.metadata.name} would be about ${bytes} bytes (base64 data plus metadata), over the API server's limit of ${MAX_SECRET_BYTES}: select fewer keys with spec.data or split the Vault secret`,
    );
  }
}
