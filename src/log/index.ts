/**
 * The process logger: pino, in JSON (one object a line, ISO-8601 UTC `time`, `level` as a word) or
 * in text (`<time> <LEVEL> <message> key=value …`) for people reading a terminal. Both carry the same
 * fields; what is logged is decided by the callers, which log names, codes and counts, never data.
 */
import { Writable } from 'node:stream';
import { pino, stdTimeFunctions, type DestinationStream, type Logger as Pino } from 'pino';

export type LogFormat = 'json' | 'text';
export const LOG_FORMATS: readonly LogFormat[] = ['json', 'text'];

export interface LoggerOptions {
  level: string;
  format: LogFormat;
  /** Fields on every line (e.g. {app: 'vaultsync'}); not printed in text. */
  base?: Record<string, unknown>;
  /** Where lines go; default stdout. */
  destination?: DestinationStream;
}

export function createLogger(opts: LoggerOptions): Pino {
  const out = opts.destination ?? pino.destination({ dest: 1, sync: false });
  return pino(
    {
      level: opts.level,
      base: opts.base ?? null,
      timestamp: stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    opts.format === 'json' ? out : textStream(out, Object.keys(opts.base ?? {})),
  );
}

/** JSON lines in, text lines out. */
function textStream(out: DestinationStream, hidden: readonly string[]): DestinationStream {
  return new Writable({
    write(chunk: Buffer | string, _enc, done) {
      for (const line of String(chunk).split('\n')) if (line !== '') out.write(`${toText(line, hidden)}\n`);
      done();
    },
  });
}

const BARE = /^[A-Za-z0-9_./:@+-]+$/;

/** One pino JSON line as `<time> <LEVEL> <msg> key=value …`: strings bare or JSON-quoted, other values as JSON. */
export function toText(line: string, hidden: readonly string[] = []): string {
  let rec: Record<string, unknown>;
  try {
    rec = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line;
  }
  const { time, level, msg, ...rest } = rec;
  const fields = Object.entries(rest)
    .filter(([k]) => !hidden.includes(k))
    .map(([k, v]) => `${k}=${typeof v !== 'string' ? JSON.stringify(v) : BARE.test(v) ? v : JSON.stringify(v)}`);
  return [String(time), String(level).toUpperCase(), typeof msg === 'string' ? msg : '', ...fields]
    .filter((p) => p !== '')
    .join(' ');
}
