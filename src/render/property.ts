/*
 * `property`: where a value sits in a Vault secret (kept in step with docs/rendering.md).
 *
 *   - A top-level key spelled exactly like the property wins: `nested.bar` reads the key "nested.bar"
 *     when the secret has one (as ESO does, for compatibility with keys that contain dots).
 *   - Otherwise the property is a path: segments separated by `.`; `\` escapes the next character
 *     (`a\.b` is the one key "a.b", `a\\b` the key "a\b"). A segment that is a decimal integer
 *     indexes an array (`list.0`); on an object every segment is a key.
 *   - No wildcards, queries or modifiers (gjson's `*`, `?`, `#`, `@`, `|`): those characters are
 *     ordinary key characters here.
 */

const INDEX = /^(0|[1-9][0-9]*)$/;

/** The segments of a property path. A trailing lone `\` stands for itself. */
export function propertySegments(property: string): string[] {
  const segments: string[] = [];
  let current = '';
  for (let i = 0; i < property.length; i++) {
    const c = property.charAt(i);
    if (c === '\\' && i + 1 < property.length) {
      current += property.charAt(++i);
    } else if (c === '.') {
      segments.push(current);
      current = '';
    } else {
      current += c;
    }
  }
  segments.push(current);
  return segments;
}

export type Lookup = { found: true; value: unknown } | { found: false };

/** The value `property` addresses in `data`, own properties only (never the prototype chain). */
export function lookupProperty(data: Record<string, unknown>, property: string): Lookup {
  if (Object.hasOwn(data, property)) return { found: true, value: data[property] };
  let value: unknown = data;
  for (const segment of propertySegments(property)) {
    if (Array.isArray(value)) {
      if (!INDEX.test(segment)) return { found: false };
      const i = Number(segment);
      if (i >= value.length) return { found: false };
      value = value[i];
    } else if (typeof value === 'object' && value !== null && Object.hasOwn(value, segment)) {
      value = (value as Record<string, unknown>)[segment];
    } else {
      return { found: false };
    }
  }
  return { found: true, value };
}
