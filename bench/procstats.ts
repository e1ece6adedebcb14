/** CPU seconds and peak RSS of processes, from /proc (Linux). */
import { readdirSync, readFileSync } from 'node:fs';

/** /proc reports CPU time in USER_HZ ticks, which Linux fixes at 100 for user space (getconf CLK_TCK). */
const USER_HZ = 100;

export interface ProcSample {
  /** utime + stime, seconds. */
  cpuSeconds: number;
  /** VmHWM: peak resident set size, MiB. */
  peakRssMiB: number;
  rssMiB: number;
}

/** undefined once the process has gone. */
export function sampleProc(pid: number | undefined): ProcSample | undefined {
  if (pid === undefined) return undefined;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces) start at field 3; utime is 14, stime 15.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const cpuSeconds = (Number(rest[11]) + Number(rest[12])) / USER_HZ;
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0);
    return { cpuSeconds, peakRssMiB: kb('VmHWM') / 1024, rssMiB: kb('VmRSS') / 1024 };
  } catch {
    return undefined;
  }
}

/** Pids of processes whose command line contains `needle` (e.g. the test environment's directory). */
export function pidsMatching(needle: string): { pid: number; name: string }[] {
  const out: { pid: number; name: string }[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const argv = readFileSync(`/proc/${d}/cmdline`, 'utf8').split('\0');
      if (!argv.some((a) => a.includes(needle))) continue;
      out.push({ pid: Number(d), name: (argv[0] ?? '').split('/').pop() ?? '' });
    } catch {
      // the process exited between readdir and read
      continue;
    }
  }
  return out;
}

/** CPU seconds all CPUs spent not idle since boot (/proc/stat: all but idle and iowait). */
export function machineBusySeconds(): number {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
  const f = line.trim().split(/\s+/).slice(1).map(Number);
  const total = f.slice(0, 8).reduce((a, b) => a + b, 0);
  return (total - (f[3] ?? 0) - (f[4] ?? 0)) / USER_HZ;
}
