/** The few types every layer shares. A leaf: imports nothing of the project. */

/** `namespace/name` of a SecretSync. */
export type Key = string;

export const keyOf = (o: { metadata: { namespace: string; name: string } }): Key =>
  `${o.metadata.namespace}/${o.metadata.name}`;

export function splitKey(key: Key): { namespace: string; name: string } {
  const i = key.indexOf('/');
  return { namespace: key.slice(0, i), name: key.slice(i + 1) };
}

export interface Clock {
  now(): number;
}

export interface Logger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
  child(bindings: Record<string, unknown>): Logger;
}
