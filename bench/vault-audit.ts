/**
 * Vault requests counted at Vault's side, from a declarative file audit device (OpenBao 2.4 refuses
 * `sys/audit` over the API; the device is configured in the server HCL). OpenBao's telemetry
 * (`/v1/sys/metrics`) only has per-mount route timers (`vault_route_read_secret_`,
 * `vault_route_update_auth_token_` for renew-self *and* other token updates), so it cannot tell a
 * lookup from a renew; the audit log has the exact path of every request.
 *
 * Windows are byte offsets in the log taken at phase boundaries; the log is parsed once at the end
 * so parsing costs no CPU while the sync engines are measured.
 */
import { closeSync, openSync, readSync, statSync } from 'node:fs';
import { StringDecoder } from 'node:string_decoder';

export interface VaultCounts {
  login: number;
  read: number;
  lookup: number;
  renew: number;
  other: number;
  total: number;
  byPath: Record<string, number>;
  /** How many distinct KV paths were read once, twice, … in the window ("1": 998, "2": 2). */
  readsPerPath: Record<string, number>;
}

export function auditHcl(file: string): string {
  return [
    'telemetry {',
    '  prometheus_retention_time = "1h"',
    '  disable_hostname = true',
    '}',
    'audit "file" "bench" {',
    '  options {',
    `    file_path = "${file}"`,
    '  }',
    '}',
  ].join('\n');
}

export const auditOffset = (file: string): number => {
  try {
    return statSync(file).size;
  } catch {
    return 0;
  }
};

const empty = (): VaultCounts => ({
  login: 0,
  read: 0,
  lookup: 0,
  renew: 0,
  other: 0,
  total: 0,
  byPath: {},
  readsPerPath: {},
});

interface AuditEntry {
  type?: string;
  auth?: { policies?: string[] };
  request?: { path?: string; operation?: string };
}

/** Folds a concrete path into its kind: a read of secret/data/bench/p17 counts under secret/data/*. */
function classify(
  path: string,
  operation: string,
): { kind: keyof Omit<VaultCounts, 'total' | 'byPath'>; label: string } {
  if (/^auth\/.+\/login$/.test(path)) return { kind: 'login', label: `${operation} ${path}` };
  if (path.startsWith('auth/token/lookup')) return { kind: 'lookup', label: `${operation} ${path}` };
  if (path.startsWith('auth/token/renew')) return { kind: 'renew', label: `${operation} ${path}` };
  const kv = /^([^/]+)\/data\//.exec(path);
  if (kv && operation === 'read') return { kind: 'read', label: `read ${kv[1]}/data/*` };
  return { kind: 'other', label: `${operation} ${kv ? `${kv[1]}/data/*` : path}` };
}

/**
 * Counts `request` entries per window [offsets[i], offsets[i+1]). Requests made with the root token
 * (the bench's own KV writes) are left out: only the sync engine's requests count.
 */
export function countWindows(file: string, offsets: number[]): VaultCounts[] {
  const windows = offsets.slice(0, -1).map(() => empty());
  const paths = windows.map(() => new Map<string, number>());
  const fd = openSync(file, 'r');
  try {
    const size = statSync(file).size;
    const buf = Buffer.alloc(1 << 20);
    let pos = offsets[0] ?? 0;
    let carry = '';
    const decoder = new StringDecoder('utf8');
    let lineStart = pos;
    let w = 0;
    while (pos < size) {
      const n = readSync(fd, buf, 0, buf.length, pos);
      if (n <= 0) break;
      const text = carry + decoder.write(buf.subarray(0, n));
      pos += n;
      let from = 0;
      let nl = text.indexOf('\n');
      while (nl !== -1) {
        const line = text.slice(from, nl);
        while (w < windows.length && lineStart >= offsets[w + 1]!) w++;
        if (w >= windows.length) return histogram(windows, paths);
        add(windows[w]!, paths[w]!, line);
        lineStart += Buffer.byteLength(line) + 1;
        from = nl + 1;
        nl = text.indexOf('\n', from);
      }
      carry = text.slice(from);
    }
  } finally {
    closeSync(fd);
  }
  return histogram(windows, paths);
}

function histogram(windows: VaultCounts[], paths: Map<string, number>[]): VaultCounts[] {
  windows.forEach((w, i) => {
    for (const n of paths[i]!.values()) w.readsPerPath[String(n)] = (w.readsPerPath[String(n)] ?? 0) + 1;
  });
  return windows;
}

function add(c: VaultCounts, paths: Map<string, number>, line: string): void {
  if (!line.includes('"type":"request"')) return;
  const e = JSON.parse(line) as AuditEntry;
  if (e.type !== 'request' || e.auth?.policies?.includes('root')) return;
  const { kind, label } = classify(e.request?.path ?? '', e.request?.operation ?? '');
  c[kind]++;
  c.total++;
  if (kind === 'read') {
    const path = e.request?.path ?? '';
    paths.set(path, (paths.get(path) ?? 0) + 1);
  }
  c.byPath[label] = (c.byPath[label] ?? 0) + 1;
}

export function sumCounts(xs: VaultCounts[]): VaultCounts {
  const s = empty();
  for (const x of xs) {
    s.login += x.login;
    s.read += x.read;
    s.lookup += x.lookup;
    s.renew += x.renew;
    s.other += x.other;
    s.total += x.total;
    for (const [k, v] of Object.entries(x.byPath)) s.byPath[k] = (s.byPath[k] ?? 0) + v;
    for (const [k, v] of Object.entries(x.readsPerPath)) s.readsPerPath[k] = (s.readsPerPath[k] ?? 0) + v;
  }
  return s;
}
