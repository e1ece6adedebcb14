/**
 * What a refresh request names, from the signed JSON body or (GitHub webhooks, whose body is
 * GitHub's own payload) from the query string. Messages say what is wrong without echoing input.
 */
import { asRecord } from '../core/json.js';
import type { Key } from '../core/types.js';

export const MAX_TARGETS = 100;
export const MAX_TARGET_LENGTH = 512;

export interface RefreshTargets {
  /** Vault paths with the mount: `secret/myapp/config`, `kv/team-a/data/app`. */
  paths: string[];
  /** SecretSyncs as `namespace/name`. */
  secretSyncs: Key[];
}

export type Parsed = { ok: true; targets: RefreshTargets } | { ok: false; message: string };

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
// eslint-disable-next-line no-control-regex -- control characters are exactly what is refused
const CONTROL = /[\u0000-\u001f\u007f]/;

const SHAPE = 'body must be {"paths": ["<mount>/<path>", …], "secretSyncs": ["<namespace>/<name>", …]}';

/** Parses the raw JSON body of a refresh request. */
export function parseRefreshBody(raw: Buffer): Parsed {
  let body: unknown;
  try {
    body = JSON.parse(raw.toString('utf8'));
  } catch {
    return { ok: false, message: `body is not JSON: ${SHAPE}` };
  }
  const fields = asRecord(body);
  if (fields === undefined) return { ok: false, message: SHAPE };
  const unknown = Object.keys(fields).filter((k) => k !== 'paths' && k !== 'secretSyncs');
  if (unknown.length > 0) return { ok: false, message: `unknown field(s); ${SHAPE}` };
  for (const f of ['paths', 'secretSyncs'] as const) {
    const v = fields[f];
    if (v !== undefined && (!Array.isArray(v) || v.some((s) => typeof s !== 'string'))) {
      return { ok: false, message: `${f} must be an array of strings` };
    }
  }
  return validate((fields.paths as string[] | undefined) ?? [], (fields.secretSyncs as string[] | undefined) ?? []);
}

/**
 * Targets named in the query string (`?path=secret/myapp/config&secretSync=ns/name`, repeatable);
 * undefined when it names none.
 */
export function parseRefreshQuery(query: Record<string, unknown>): Parsed | undefined {
  const unknown = Object.keys(query).filter((k) => k !== 'path' && k !== 'secretSync');
  if (unknown.length > 0) return { ok: false, message: 'query parameters must be path or secretSync' };
  // Fastify's query parser yields a string, or an array for a repeated parameter.
  const all = (v: unknown): unknown[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);
  const paths = all(query.path);
  const secretSyncs = all(query.secretSync);
  if ([...paths, ...secretSyncs].some((v) => typeof v !== 'string')) {
    return { ok: false, message: 'query parameters must be plain strings' };
  }
  if (paths.length + secretSyncs.length === 0) return undefined;
  return validate(paths as string[], secretSyncs as string[]);
}

function validate(paths: string[], secretSyncs: string[]): Parsed {
  const total = paths.length + secretSyncs.length;
  if (total === 0) return { ok: false, message: `name at least one path or SecretSync; ${SHAPE}` };
  if (total > MAX_TARGETS) return { ok: false, message: `at most ${MAX_TARGETS} paths and SecretSyncs per request` };
  for (const [i, p] of paths.entries()) {
    const problem = pathProblem(p);
    if (problem) return { ok: false, message: `paths[${i}] ${problem}` };
  }
  for (const [i, s] of secretSyncs.entries()) {
    if (!isKey(s)) return { ok: false, message: `secretSyncs[${i}] must be <namespace>/<name>` };
  }
  return { ok: true, targets: { paths: [...new Set(paths)], secretSyncs: [...new Set(secretSyncs)] } };
}

function pathProblem(p: string): string | undefined {
  if (p.length === 0 || p.length > MAX_TARGET_LENGTH) return `must be 1 to ${MAX_TARGET_LENGTH} characters`;
  if (CONTROL.test(p)) return 'must not contain control characters';
  const segments = p.replace(/^\/|\/$/g, '').split('/');
  if (segments.length < 2) return 'must be <mount>/<path>, e.g. secret/myapp/config';
  if (segments.some((s) => s === '' || s === '.' || s === '..')) return 'must not contain empty, . or .. segments';
  return undefined;
}

function isKey(s: string): boolean {
  const parts = s.split('/');
  if (parts.length !== 2) return false;
  const [ns = '', name = ''] = parts;
  return ns.length <= 63 && DNS_LABEL.test(ns) && name.length <= 253 && DNS_SUBDOMAIN.test(name);
}
