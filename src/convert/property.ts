/**
 * ESO's `remoteRef.property` for the Vault provider is a gjson path (github.com/tidwall/gjson):
 * `a.b`, `list.1.name`, `\.` for a dot inside a key. The plain subset maps onto a vaultsync nested
 * property; gjson's query language (wildcards, `#`, `|`, `@` modifiers) does not.
 */

/** gjson syntax outside the plain path subset. */
const GJSON_SPECIAL = /[*?#|@!{}[\]()=<>~%]/;

export type PropertyResult = { ok: true; property: string; dotted: boolean } | { ok: false; why: string };

/**
 * The vaultsync property for a gjson path. `dotted` says the path has more than one segment:
 * ESO would first look for a top-level key spelled exactly like the whole path.
 */
export function convertProperty(gjson: string): PropertyResult {
  const segments: string[] = [];
  let current = '';
  for (let i = 0; i < gjson.length; i++) {
    const c = gjson.charAt(i);
    if (c === '\\' && i + 1 < gjson.length) {
      current += gjson.charAt(++i);
    } else if (c === '.') {
      segments.push(current);
      current = '';
    } else if (GJSON_SPECIAL.test(c)) {
      return { ok: false, why: `gjson query syntax (${c}) has no vaultsync equivalent: name the value's plain path` };
    } else {
      current += c;
    }
  }
  segments.push(current);
  if (segments.some((s) => s === '')) return { ok: false, why: 'a property path with an empty segment' };
  return { ok: true, property: formatProperty(segments), dotted: segments.length > 1 };
}

/** vaultsync's nested property syntax (docs/rendering.md): segments joined by `.`, `\.` for a literal dot. */
export function formatProperty(segments: readonly string[]): string {
  return segments.map((s) => s.replaceAll('\\', '\\\\').replaceAll('.', '\\.')).join('.');
}
