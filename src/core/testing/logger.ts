/** The one test Logger: keeps what was logged so a test can assert on it (and on what never was). */
import type { Logger } from '../types.js';

export interface LogEntry {
  level: 'debug' | 'info' | 'warn' | 'error';
  obj: object;
  msg: string | undefined;
  /** What `child()` calls bound, outermost first merged; `{}` for the root logger. */
  bindings: Record<string, unknown>;
}

export interface RecordingLogger extends Logger {
  /** Every entry of this logger and of its children, in order. */
  readonly entries: LogEntry[];
}

export function recordingLogger(entries: LogEntry[] = [], bindings: Record<string, unknown> = {}): RecordingLogger {
  const at =
    (level: LogEntry['level']) =>
    (obj: object, msg?: string): void => {
      entries.push({ level, obj, msg, bindings });
    };
  return {
    entries,
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
    child: (more) => recordingLogger(entries, { ...bindings, ...more }),
  };
}
