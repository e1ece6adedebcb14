import { SyncError } from '../errors.js';

const SECRET_KEY = /^[-._a-zA-Z0-9]+$/;
const ENV_VAR_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

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

/** The text a Vault value becomes (the table at the top of render.ts). */
export function renderValue(value: unknown, property: string, where: string): string {
  if (typeof value === 'string') return value;
  if (value === null || typeof value === 'boolean' || typeof value === 'object') return JSON.stringify(value);
  if (typeof value === 'number' && Number.isFinite(value)) return JSON.stringify(value);
  throw new SyncError('BadVaultData', `property ${quoteName(property)} of Vault secret ${where} is not a JSON value`);
}

/** Names are not secret, but may be long or odd: quote and cap them. */
export function quoteName(name: string): string {
  return JSON.stringify(name.length > 120 ? `${name.slice(0, 120)}…` : name);
}
