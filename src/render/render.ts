import type { DataItem } from '../api/index.js';
import { SyncError } from '../errors.js';
import type { SecretObject } from '../controller/types.js';

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

const SECRET_KEY = /^[-._a-zA-Z0-9]+$/;
const ENV_VAR_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export interface RenderedData {
  /** base64 values keyed by Secret key. */
  data: Record<string, string>;
  /** Keys that are valid Secret keys but not environment variable names (envFrom may skip them). */
  nonEnvVarKeys: string[];
}

/**
 * Why a key cannot be a Secret key (the API server's rules for Secret and ConfigMap keys), or undefined.
 * `__proto__` is a valid key for the API server, but the Kubernetes client library builds request
 * bodies by assignment, which drops it: the Secret would be written without it, again at every refresh.
 */
export function secretKeyProblem(key: string): string | undefined {
  if (key.length === 0) return 'it is empty';
  if (key.length > 253) return 'it is longer than 253 characters';
  if (!SECRET_KEY.test(key)) return "it may contain only letters, digits, '-', '_' and '.'";
  if (key === '.' || key === '..' || key.startsWith('..')) return "it must not be '.' or start with '..'";
  if (key === '__proto__') return 'the Kubernetes client library cannot send a key named __proto__';
  return undefined;
}

export const isEnvVarName = (key: string): boolean => ENV_VAR_NAME.test(key);

/**
 * Selects and renames Vault keys (`items`; absent: all keys) and renders their values.
 * `where` names the Vault secret in messages (e.g. `secret/myapp/config version 3`); key and property
 * names appear in messages, values never do.
 */
export function renderData(
  items: readonly DataItem[] | undefined,
  source: Record<string, unknown>,
  where: string,
): RenderedData {
  const picks = items ?? allKeys(source, where);
  const seen = new Set<string>();
  const entries: [string, string][] = [];
  for (const { secretKey, property } of picks) {
    const problem = secretKeyProblem(secretKey);
    if (problem !== undefined) {
      throw new SyncError(
        'InvalidSpec',
        `spec.data secretKey ${quote(secretKey)} is not a valid Secret key: ${problem}`,
      );
    }
    if (seen.has(secretKey)) {
      throw new SyncError('InvalidSpec', `spec.data names secretKey ${quote(secretKey)} more than once`);
    }
    seen.add(secretKey);
    if (!Object.hasOwn(source, property)) {
      throw new SyncError(
        'PropertyNotFound',
        `property ${quote(property)} not found in Vault secret ${where}: fix spec.data or add it in Vault`,
      );
    }
    entries.push([secretKey, Buffer.from(renderValue(source[property], property, where), 'utf8').toString('base64')]);
  }
  // fromEntries defines own properties, so a key such as `__proto__` stays an ordinary key.
  return { data: Object.fromEntries(entries), nonEnvVarKeys: [...seen].filter((k) => !isEnvVarName(k)) };
}

function allKeys(source: Record<string, unknown>, where: string): DataItem[] {
  const keys = Object.keys(source);
  // An empty version is almost always a mistake (a write without fields); writing it would blank the Secret.
  if (keys.length === 0) {
    throw new SyncError(
      'BadVaultData',
      `Vault secret ${where} has no keys, so there is nothing to write: add keys in Vault or point spec.vault.kv at the right path`,
    );
  }
  return keys.map((key) => {
    const problem = secretKeyProblem(key);
    if (problem !== undefined) {
      throw new SyncError(
        'InvalidSecretKey',
        `Vault key ${quote(key)} of ${where} cannot be a Secret key (${problem}): rename it in Vault or pick keys with spec.data`,
      );
    }
    return { secretKey: key, property: key };
  });
}

/** The text a Vault value becomes (see the table at the top of this file). */
export function renderValue(value: unknown, property: string, where: string): string {
  if (typeof value === 'string') return value;
  if (value === null || typeof value === 'boolean' || typeof value === 'object') return JSON.stringify(value);
  if (typeof value === 'number' && Number.isFinite(value)) return JSON.stringify(value);
  throw new SyncError('BadVaultData', `property ${quote(property)} of Vault secret ${where} is not a JSON value`);
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

/** Names are not secret, but may be long or odd: quote and cap them. */
function quote(name: string): string {
  return JSON.stringify(name.length > 120 ? `${name.slice(0, 120)}…` : name);
}
