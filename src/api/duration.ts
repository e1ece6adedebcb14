// The Go duration grammar the CRD admits for spec.refresh.interval (schema.ts DURATION), plus Go's bare "0".
const WHOLE = /^(?:[0-9]+(?:\.[0-9]+)?(?:ms|s|m|h))+$/;
const PART = /([0-9]+)(?:\.([0-9]+))?(ms|s|m|h)/g;
const UNIT_NS: Record<string, bigint> = {
  ms: 1_000_000n,
  s: 1_000_000_000n,
  m: 60_000_000_000n,
  h: 3_600_000_000_000n,
};
// Go's time.Duration is int64 nanoseconds; CEL's duration() and Go reject anything longer.
const MAX_NS = 2n ** 63n - 1n;

/**
 * Milliseconds of a Go duration string: `1h30m`, `15m`, `10s`, `500ms`, `1.5h`, or `0`.
 * Accepts the subset of Go's syntax the CRD pattern admits (units ms, s, m, h; no sign, no
 * `.5h`), so a value the API server let through parses here the same way CEL's duration() did.
 * Computed in integer nanoseconds like Go, then truncated to whole milliseconds.
 * Throws an Error naming the input (a duration is never secret) when it is not a duration
 * or exceeds Go's range (about 2562047h).
 */
export function parseDuration(text: string): number {
  if (text === '0') return 0;
  if (!WHOLE.test(text)) {
    throw new Error(`invalid duration ${JSON.stringify(text)}: expected a Go duration such as 30s, 15m, 1h30m or 1.5h`);
  }
  let ns = 0n;
  for (const [, whole = '', fraction = '', unit = ''] of text.matchAll(PART)) {
    const scale = UNIT_NS[unit] ?? 0n;
    ns += BigInt(whole) * scale + (BigInt(fraction || '0') * scale) / 10n ** BigInt(fraction.length);
    if (ns > MAX_NS) throw new Error(`invalid duration ${JSON.stringify(text)}: longer than Go's maximum (2562047h)`);
  }
  return Number(ns / 1_000_000n);
}
