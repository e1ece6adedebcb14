/**
 * ESO's Go templates (text/template with Sprig) → vaultsync's Liquid templates, for the subset
 * people use in ExternalSecrets: values (`{{ .password }}`, `{{ index . "tls.crt" }}`), pipelines
 * of the common helpers (`b64enc`, `b64dec`, `upper`, `lower`, `trim`, `toString`, `toJson`,
 * `quote`, `default`, `replace`, `indent`, `nindent`), `printf` with `%s`, comments, and `{{-`/`-}}`.
 * Anything else (if/range/with, variables, other functions) is refused with the reason, and the
 * caller drops that template key. The mapping table is in docs/migrating-from-eso.md.
 */

export type TemplateResult = { ok: true; liquid: string } | { ok: false; why: string };

/** A Go helper and the Liquid filter that does the same; `args` is the number of arguments before the piped value. */
interface FilterMap {
  filter: string | null;
  args: number;
}

/** Go/Sprig function → Liquid filter (docs/rendering.md lists vaultsync's filters). `null`: no-op. */
export const FILTERS: Readonly<Record<string, FilterMap>> = {
  b64enc: { filter: 'base64_encode', args: 0 },
  b64dec: { filter: 'base64_decode', args: 0 },
  upper: { filter: 'upcase', args: 0 },
  lower: { filter: 'downcase', args: 0 },
  trim: { filter: 'strip', args: 0 },
  toString: { filter: null, args: 0 },
  toJson: { filter: 'json', args: 0 },
  toJSON: { filter: 'json', args: 0 },
  quote: { filter: 'quote', args: 0 },
  default: { filter: 'default', args: 1 },
  replace: { filter: 'replace', args: 2 },
  indent: { filter: 'indent', args: 1 },
  nindent: { filter: 'nindent', args: 1 },
};

class Unsupported extends Error {}

type Token =
  | { t: 'field'; path: string[] }
  | { t: 'dot' }
  | { t: 'string'; value: string }
  | { t: 'number'; text: string }
  | { t: 'ident'; name: string }
  | { t: 'pipe' }
  | { t: 'other'; text: string };

/** Translates one ESO template string. */
export function convertTemplate(go: string): TemplateResult {
  try {
    return { ok: true, liquid: translate(go) };
  } catch (err) {
    if (err instanceof Unsupported) return { ok: false, why: err.message };
    throw err;
  }
}

function translate(go: string): string {
  // Split into text and actions, applying Go's trim markers to the text here, so the Liquid
  // output needs no whitespace control of its own.
  const parts: ({ text: string } | { action: string })[] = [];
  let i = 0;
  let trimNext = false;
  while (i < go.length) {
    const open = go.indexOf('{{', i);
    let text = open === -1 ? go.slice(i) : go.slice(i, open);
    if (trimNext) text = text.replace(/^[ \t\r\n]+/, '');
    if (open === -1) {
      parts.push({ text });
      break;
    }
    let start = open + 2;
    if (/^-[ \t\r\n]/.test(go.slice(start, start + 2))) {
      text = text.replace(/[ \t\r\n]+$/, '');
      start += 1;
    }
    parts.push({ text });
    const close = findClose(go, start);
    if (close === -1) throw new Unsupported('an action {{ without its closing }}');
    let end = close;
    trimNext = false;
    if (/[ \t\r\n]-$/.test(go.slice(start, close))) {
      end = close - 1;
      trimNext = true;
    }
    parts.push({ action: go.slice(start, end).trim() });
    i = close + 2;
  }
  return parts.map((p) => ('text' in p ? literal(p.text) : action(p.action))).join('');
}

/** Index of the `}}` closing an action, skipping quoted strings. */
function findClose(s: string, from: number): number {
  for (let i = from; i < s.length; i++) {
    const c = s.charAt(i);
    if (c === '"' || c === '`') {
      const quote = c;
      for (i++; i < s.length && s.charAt(i) !== quote; i++) if (quote === '"' && s.charAt(i) === '\\') i++;
    } else if (c === '}' && s.charAt(i + 1) === '}') {
      return i;
    }
  }
  return -1;
}

/** Literal text; text that Liquid would read as markup is kept raw. */
function literal(text: string): string {
  if (!text.includes('{{') && !text.includes('{%')) return text;
  if (text.includes('endraw')) throw new Unsupported('literal text containing Liquid markup and "endraw"');
  return `{% raw %}${text}{% endraw %}`;
}

function action(body: string): string {
  if (body.startsWith('/*') && body.endsWith('*/')) return '';
  const keyword = /^(if|else|end|range|with|define|template|block|break|continue)\b/.exec(body);
  if (keyword) throw new Unsupported(`{{ ${keyword[1] ?? ''} }} blocks are not translated`);
  const tokens = tokenize(body);
  const first = tokens[0];
  if (first === undefined) throw new Unsupported('an empty action {{ }}');
  const [fmt, ...extra] = tokens.slice(1);
  if (
    first.t === 'ident' &&
    first.name === 'printf' &&
    fmt?.t === 'string' &&
    extra.length === 0 &&
    !/%[^%]/.test(fmt.value)
  ) {
    // printf "{{ .x }}" prints its text as is (a Helm-escaped template in ESO's docs): plain text.
    return literal(fmt.value.replaceAll('%%', '%'));
  }
  const commands: Token[][] = [[]];
  for (const tok of tokens) {
    if (tok.t === 'pipe') commands.push([]);
    else commands[commands.length - 1]?.push(tok);
  }
  let expr = '';
  commands.forEach((cmd, n) => {
    expr = n === 0 ? head(cmd) : expr + filter(cmd);
  });
  return `{{ ${expr} }}`;
}

/** The first command of a pipeline as a Liquid expression with its filters. */
function head(cmd: Token[]): string {
  const [first, ...args] = cmd;
  if (first === undefined) throw new Unsupported('an empty pipeline stage');
  if (first.t !== 'ident') {
    if (args.length > 0) throw new Unsupported('a value followed by arguments');
    return operand(first);
  }
  if (first.name === 'index') return index(args);
  if (first.name === 'printf') return printf(args);
  // fn a b x ≡ x | fn a b: the last argument is the value the filter applies to.
  const value = args.at(-1);
  if (value === undefined) throw new Unsupported(`the function ${first.name} without arguments`);
  return operand(value) + filter([first, ...args.slice(0, -1)]);
}

/** A later pipeline stage `fn a b` (the piped value is its last argument) as `| filter: a, b`. */
function filter(cmd: Token[]): string {
  const [fn, ...args] = cmd;
  if (fn?.t !== 'ident') throw new Unsupported('a pipeline stage that is not a function');
  const map = FILTERS[fn.name];
  if (map === undefined) throw new Unsupported(`the function ${fn.name} has no vaultsync equivalent`);
  if (args.length !== map.args) throw new Unsupported(`${fn.name} with ${args.length} argument(s)`);
  if (map.filter === null) return '';
  if (args.length === 0) return ` | ${map.filter}`;
  return ` | ${map.filter}: ${args.map(operand).join(', ')}`;
}

function index(args: Token[]): string {
  const [target, key, ...rest] = args;
  if (target?.t !== 'dot' || key?.t !== 'string' || rest.length > 0) {
    throw new Unsupported('index other than index . "key"');
  }
  return variable([key.value]);
}

/** printf with %s/%v/%d verbs only: pieces joined with Liquid's append. */
function printf(args: Token[]): string {
  const [format, ...values] = args;
  if (format?.t !== 'string') throw new Unsupported('printf without a literal format');
  const pieces: string[] = [];
  let text = '';
  let used = 0;
  for (let i = 0; i < format.value.length; i++) {
    const c = format.value.charAt(i);
    if (c !== '%') {
      text += c;
      continue;
    }
    const verb = format.value.charAt(++i);
    if (verb === '%') {
      text += '%';
      continue;
    }
    if (!['s', 'v', 'd'].includes(verb)) throw new Unsupported(`printf verb %${verb}`);
    const value = values[used++];
    if (value === undefined) throw new Unsupported('printf with fewer arguments than verbs');
    if (text !== '') pieces.push(stringLiteral(text));
    text = '';
    pieces.push(operand(value));
  }
  if (used !== values.length) throw new Unsupported('printf with more arguments than verbs');
  if (text !== '' || pieces.length === 0) pieces.push(stringLiteral(text));
  const [first, ...more] = pieces;
  return (first ?? '""') + more.map((p) => ` | append: ${p}`).join('');
}

function operand(tok: Token): string {
  switch (tok.t) {
    case 'field':
      return variable(tok.path);
    case 'string':
      return stringLiteral(tok.value);
    case 'number':
      return tok.text;
    case 'dot':
      throw new Unsupported('the whole value map (.) is not a value');
    case 'ident':
      if (tok.name === 'true' || tok.name === 'false') return tok.name;
      throw new Unsupported(`a nested call of ${tok.name} (use a pipeline)`);
    default:
      throw new Unsupported(`"${'text' in tok ? tok.text : tok.t}" is not translated`);
  }
}

/** A value of the template context by name: plain names as is, others by bracket. */
export function variable(path: readonly string[]): string {
  return path
    .map((p, i) => (/^[A-Za-z_][A-Za-z0-9_]*$/.test(p) ? (i === 0 ? p : `.${p}`) : `[${stringLiteral(p)}]`))
    .join('');
}

function stringLiteral(s: string): string {
  if (!s.includes('"')) return `"${s}"`;
  if (!s.includes("'")) return `'${s}'`;
  throw new Unsupported('a string with both quote characters');
}

function tokenize(body: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < body.length) {
    const rest = body.slice(i);
    const space = /^\s+/.exec(rest);
    if (space) {
      i += space[0].length;
      continue;
    }
    const c = rest.charAt(0);
    if (c === '|') {
      out.push({ t: 'pipe' });
      i++;
      continue;
    }
    if (c === '"') {
      const m = /^"((?:[^"\\]|\\.)*)"/.exec(rest);
      if (!m) throw new Unsupported('an unterminated string');
      out.push({ t: 'string', value: unquote(m[1] ?? '') });
      i += m[0].length;
      continue;
    }
    if (c === '`') {
      const end = rest.indexOf('`', 1);
      if (end === -1) throw new Unsupported('an unterminated raw string');
      out.push({ t: 'string', value: rest.slice(1, end) });
      i += end + 1;
      continue;
    }
    const field = /^(\.[A-Za-z_][A-Za-z0-9_]*)+/.exec(rest);
    if (field) {
      out.push({ t: 'field', path: field[0].slice(1).split('.') });
      i += field[0].length;
      continue;
    }
    if (/^\.(\s|$)/.test(rest)) {
      out.push({ t: 'dot' });
      i++;
      continue;
    }
    const num = /^-?[0-9]+(\.[0-9]+)?/.exec(rest);
    if (num) {
      out.push({ t: 'number', text: num[0] });
      i += num[0].length;
      continue;
    }
    const ident = /^[A-Za-z_][A-Za-z0-9_]*/.exec(rest);
    if (ident) {
      out.push({ t: 'ident', name: ident[0] });
      i += ident[0].length;
      continue;
    }
    if (c === '$') throw new Unsupported('template variables ($) are not translated');
    if (c === '(') throw new Unsupported('parenthesised calls are not translated');
    out.push({ t: 'other', text: c });
    i++;
  }
  return out;
}

/** Go's escapes in "..." strings, the common ones; others are refused. */
function unquote(s: string): string {
  return s.replace(/\\(.)/g, (_m, c: string) => {
    const map: Record<string, string> = { n: '\n', t: '\t', '"': '"', '\\': '\\' };
    const v = map[c];
    if (v === undefined) throw new Unsupported(`the string escape \\${c}`);
    return v;
  });
}
