import { RE2JS } from 're2js';

/*
 * Rewrites of key names (allKeys.rewrite): RE2 regular expressions, the syntax and semantics of Go's
 * regexp package (what ESO uses), matched in linear time by re2js, so no pattern can backtrack
 * catastrophically. Replacements use Go's syntax: $1 or ${1}, $name or ${name}, $$ for a dollar;
 * $name takes the longest run of letters, digits and _ (so $1x means the group named "1x", empty
 * when there is none), exactly as Go's Regexp.Expand does.
 */

/** Bigger programs are refused: the matching time is linear in the key length times this. */
export const MAX_REGEX_PROGRAM = 2_000;

export interface Rewrite {
  /** Replaces every match in `key` (Go's ReplaceAllString semantics). */
  apply(key: string): string;
}

/** Compiles a rewrite, or explains why it cannot (the pattern is spec, not secret, so it may be quoted). */
export function compileRewrite(regex: string, replacement: string): Rewrite | { error: string } {
  let re: RE2JS;
  try {
    re = RE2JS.compile(regex);
  } catch (err) {
    return { error: err instanceof Error ? err.message : 'invalid regular expression' };
  }
  if (re.programSize() > MAX_REGEX_PROGRAM) {
    return { error: `the expression is too complex (program size ${re.programSize()}, at most ${MAX_REGEX_PROGRAM})` };
  }
  const named = re.namedGroups();
  const groups = re.groupCount();
  return {
    apply(key: string): string {
      const m = re.matcher(key);
      let out = '';
      let last = 0;
      let prevEnd = -1;
      let pos = 0;
      while (pos <= key.length && m.find(pos)) {
        const start = m.start();
        const end = m.end();
        const step = start < key.length && (key.codePointAt(start) ?? 0) > 0xffff ? 2 : 1;
        // Go ignores an empty match right after the previous match.
        if (start === end && start === prevEnd) {
          pos = start + step;
          continue;
        }
        out +=
          key.slice(last, start) +
          expand(replacement, (name) => {
            const index = /^[0-9]+$/.test(name) ? Number(name) : named[name];
            return index !== undefined && index <= groups ? (m.group(index) ?? '') : '';
          });
        last = end;
        prevEnd = end;
        pos = start === end ? end + step : end;
      }
      return out + key.slice(last);
    },
  };
}

/** Go's template expansion: $name / ${name} / $$; a `$` that starts neither stays as it is. */
function expand(template: string, group: (name: string) => string): string {
  let out = '';
  for (let i = 0; i < template.length; i++) {
    const c = template.charAt(i);
    if (c !== '$') {
      out += c;
      continue;
    }
    const next = template[i + 1];
    if (next === '$') {
      out += '$';
      i++;
      continue;
    }
    let name: string | undefined;
    if (next === '{') {
      const close = template.indexOf('}', i + 2);
      const inner = close < 0 ? '' : template.slice(i + 2, close);
      if (close >= 0 && /^[A-Za-z0-9_]+$/.test(inner)) {
        name = inner;
        i = close;
      }
    } else {
      const run = /^[A-Za-z0-9_]+/.exec(template.slice(i + 1));
      if (run !== null) {
        name = run[0];
        i += run[0].length;
      }
    }
    out += name === undefined ? '$' : group(name);
  }
  return out;
}
