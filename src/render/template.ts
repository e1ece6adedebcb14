import { Liquid, type FS } from 'liquidjs';
import type { TemplateSpec } from '../api/index.js';
import { SyncError } from '../errors.js';
import { quoteName } from './values.js';

/*
 * spec.template: Secret keys built by Liquid templates (liquidjs), sandboxed for a shared controller
 * (docs/rendering.md, "Templates"):
 *
 *   - no code: Liquid has no expressions that call functions; only the filters registered here and
 *     liquidjs's built-ins exist (strictFilters: an unknown filter is a parse error);
 *   - no prototype: ownPropertyOnly, so `x.constructor` or `x.__proto__` is an undefined variable;
 *   - no files: include, render and layout are replaced by tags that refuse at parse time, and the
 *     file system handed to liquidjs has no files;
 *   - bounded: template length (parseLimit), render time per template (renderLimit), memory
 *     allocated by ranges and string building (memoryLimit), and each output's size;
 *   - errors never quote values: messages come from the template's text (spec) or are ours.
 */

/** Time one template may take to render. */
export const TEMPLATE_RENDER_LIMIT_MS = 100;
/** Bytes one rendered template may produce; the Secret as a whole is bounded by the 1 MiB check. */
export const MAX_TEMPLATE_OUTPUT_BYTES = 512 * 1024;
const MEMORY_LIMIT = 8_000_000;

/** An error raised by one of our filters: its message was written not to include the value. */
class FilterError extends Error {}

const NO_FILES: FS = {
  exists: () => Promise.resolve(false),
  existsSync: () => false,
  readFile: () => Promise.reject(new FilterError('templates cannot read files')),
  readFileSync: () => {
    throw new FilterError('templates cannot read files');
  },
  resolve: (_dir: string, file: string) => file,
  contains: () => Promise.resolve(false),
  sep: '/',
};

function engine(): Liquid {
  const liquid = new Liquid({
    fs: NO_FILES,
    root: [],
    partials: [],
    layouts: [],
    relativeReference: false,
    dynamicPartials: false,
    ownPropertyOnly: true,
    strictFilters: true,
    strictVariables: true,
    jsTruthy: false,
    parseLimit: 65_536,
    renderLimit: TEMPLATE_RENDER_LIMIT_MS,
    memoryLimit: MEMORY_LIMIT,
    cache: false,
  });
  for (const tag of ['include', 'render', 'layout']) {
    liquid.registerTag(tag, {
      parse() {
        throw new FilterError(`templates cannot use {% ${tag} %}: they cannot read other files`);
      },
      render() {
        return '';
      },
    });
  }
  const str = (v: unknown): string => (typeof v === 'string' ? v : v === undefined || v === null ? '' : toJson(v));
  const filters: Record<string, (v: unknown, ...args: unknown[]) => unknown> = {
    b64enc: (v) => Buffer.from(str(v), 'utf8').toString('base64'),
    b64dec: (v) => b64dec(str(v)),
    base64_decode: (v) => b64dec(str(v)),
    toJson: (v) => toJson(v),
    json: (v) => toJson(v),
    fromJson: (v) => {
      try {
        return JSON.parse(str(v)) as unknown;
      } catch {
        throw new FilterError('fromJson: the value is not valid JSON');
      }
    },
    upper: (v) => str(v).toUpperCase(),
    lower: (v) => str(v).toLowerCase(),
    trim: (v) => str(v).trim(),
    quote: (v) => JSON.stringify(str(v)),
    squote: (v) => `'${str(v)}'`,
    indent: (v, n) => indent(str(v), n),
    nindent: (v, n) => `\n${indent(str(v), n)}`,
  };
  for (const [name, fn] of Object.entries(filters)) liquid.registerFilter(name, fn);
  return liquid;
}

function b64dec(text: string): string {
  const compact = text.replace(/[\r\n]/g, '');
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(compact)) throw new FilterError('b64dec: the value is not valid Base64');
  return Buffer.from(compact, 'base64').toString('utf8');
}

function toJson(v: unknown): string {
  try {
    // JSON.stringify(undefined) is undefined at run time, whatever its declared type.
    // JSON.stringify(undefined) returns undefined at run time, whatever its declared type says.
    return v === undefined ? 'null' : JSON.stringify(v);
  } catch {
    throw new FilterError('toJson: the value cannot be encoded as JSON');
  }
}

function indent(text: string, n: unknown): string {
  const width = typeof n === 'number' && Number.isInteger(n) && n >= 0 && n <= 64 ? n : undefined;
  if (width === undefined) throw new FilterError('indent: the width must be an integer from 0 to 64');
  const pad = ' '.repeat(width);
  return text
    .split('\n')
    .map((line) => pad + line)
    .join('\n');
}

let shared: Liquid | undefined;

/** What templates see: every merged key as a variable and under `data`, and each named source's keys
 *  under `sources.<name>`. Values are text (UTF-8; a Base64-decoded binary value is not usable here). */
export interface TemplateInput {
  values: ReadonlyMap<string, Buffer>;
  sources: ReadonlyMap<string, ReadonlyMap<string, Buffer>>;
}

/** Renders every template of `spec`; throws SyncError('TemplateError') naming the key, never a value. */
export async function renderTemplates(spec: TemplateSpec, input: TemplateInput): Promise<Map<string, Buffer>> {
  const liquid = (shared ??= engine());
  const text = (m: ReadonlyMap<string, Buffer>) =>
    Object.fromEntries([...m].map(([k, v]) => [k, v.toString('utf8')] as const));
  const data = text(input.values);
  const scope = {
    ...data,
    data,
    sources: Object.fromEntries([...input.sources].map(([name, m]) => [name, text(m)] as const)),
  };
  const out = new Map<string, Buffer>();
  for (const [key, template] of Object.entries(spec.data)) {
    const where = `spec.template.data[${quoteName(key)}]`;
    let parsed;
    try {
      parsed = liquid.parse(template);
    } catch (err) {
      throw new SyncError('TemplateError', `${where} does not parse: ${describe(err)}`, { terminal: true });
    }
    let rendered: unknown;
    try {
      rendered = await liquid.render(parsed, scope);
    } catch (err) {
      throw new SyncError('TemplateError', `${where} failed: ${describe(err)}`);
    }
    const bytes = Buffer.from(typeof rendered === 'string' ? rendered : String(rendered), 'utf8');
    if (bytes.length > MAX_TEMPLATE_OUTPUT_BYTES) {
      throw new SyncError(
        'TemplateError',
        `${where} produced ${bytes.length} bytes, more than the ${MAX_TEMPLATE_OUTPUT_BYTES} a template may produce`,
      );
    }
    out.set(key, bytes);
  }
  return out;
}

const SAFE_LIQUID_ERRORS = new Set(['TokenizationError', 'ParseError', 'UndefinedVariableError']);

/**
 * A message safe to show: our own filter errors; liquidjs's parse and undefined-variable errors
 * (they quote the template, which is spec); its limit errors. Anything else (a built-in filter
 * failing on a value) is named by position only, since its text might quote the value.
 */
function describe(err: unknown): string {
  const original =
    err instanceof Error && 'originalError' in err ? (err as { originalError?: unknown }).originalError : undefined;
  const position = err instanceof Error ? /line:\d+, col:\d+/.exec(err.message)?.[0] : undefined;
  const at = position === undefined ? '' : ` (${position.replace(':', ' ').replace(', col:', ', column ')})`;
  if (original instanceof FilterError) return `${original.message}${at}`;
  if (err instanceof FilterError) return err.message;
  if (err instanceof Error && /(memory alloc|template render|parse length) limit exceeded/.test(err.message)) {
    const which = /memory alloc/.test(err.message)
      ? `it allocated more than the memory limit (${MEMORY_LIMIT} units)`
      : /render/.test(err.message)
        ? `it ran longer than ${TEMPLATE_RENDER_LIMIT_MS} ms`
        : 'it is too long';
    return `${which}${at}`;
  }
  if (err instanceof Error && SAFE_LIQUID_ERRORS.has(err.name)) return err.message.split('\n')[0] ?? err.name;
  return `a filter or tag failed${at}`;
}
