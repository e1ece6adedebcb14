/** The value as a plain JSON object, or undefined: API responses, watch events and Vault answers are untyped. */
export function asRecord(v: unknown): Record<string, unknown> | undefined {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
}
