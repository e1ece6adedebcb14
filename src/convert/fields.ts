/**
 * Reading an untyped manifest while keeping account of every field: each field the converter reads
 * is marked used (mapped, or knowingly ignored), each it cannot map is dropped with a reason, and
 * whatever is left at the end is reported as dropped too. So a field nobody thought of (a newer ESO
 * release, a typo) is listed instead of vanishing.
 */
import { asRecord } from '../core/json.js';

/** One field of the input that the SecretSync does not carry, and why. */
export interface Drop {
  /** Where it was, e.g. `spec.data[1].remoteRef.metadataPolicy` or `SecretStore vault: spec.provider.vault.tls`. */
  field: string;
  why: string;
}

export class Fields {
  readonly drops: Drop[] = [];
  private readonly used = new Set<string>();

  constructor(
    private readonly root: unknown,
    /** Prefix of every reported path, e.g. `SecretStore team-a/vault: `. */
    private readonly label = '',
  ) {}

  /** The value at a dotted path (`spec.target.name`, `spec.data[0]`), marked used. */
  get(path: string): unknown {
    this.used.add(path);
    return valueAt(this.root, path);
  }

  str(path: string): string | undefined {
    const v = this.get(path);
    if (v === undefined || v === null) return undefined;
    if (typeof v === 'string') return v;
    if (typeof v === 'number' || typeof v === 'boolean') return String(v);
    this.drop(path, 'expected a string');
    return undefined;
  }

  bool(path: string): boolean | undefined {
    const v = this.get(path);
    return typeof v === 'boolean' ? v : undefined;
  }

  /** The string map at `path` (labels, annotations), marked used. */
  strings(path: string): Record<string, string> | undefined {
    const rec = asRecord(this.get(path));
    if (rec === undefined) return undefined;
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(rec)) if (typeof v === 'string') out[k] = v;
    return out;
  }

  /** Length of the list at `path` (0 when absent), marked used only where items are read. */
  count(path: string): number {
    const v = valueAt(this.root, path);
    return Array.isArray(v) ? v.length : 0;
  }

  has(path: string): boolean {
    const v = valueAt(this.root, path);
    return v !== undefined && v !== null;
  }

  /** Marks a field, and everything under it, as read. */
  use(path: string): void {
    this.used.add(path);
  }

  /** Reports a field (and everything under it) as not carried over. Absent fields are not reported. */
  drop(path: string, why: string): void {
    this.used.add(path);
    if (this.has(path)) this.drops.push({ field: `${this.label}${path}`, why });
  }

  /** Reports a loss at `path` whether or not the field is present (e.g. a default that changes meaning). */
  report(path: string, why: string): void {
    this.drops.push({ field: `${this.label}${path}`, why });
  }

  /**
   * Every field under `path` that was neither used nor dropped, reported with `why`. Empty
   * objects, empty lists and nulls are not fields worth reporting.
   */
  dropUnread(path: string, why: string): void {
    const visit = (p: string, v: unknown): void => {
      if (this.covered(p)) return;
      if (v === undefined || v === null) return;
      if (Array.isArray(v)) {
        v.forEach((item, i) => visit(`${p}[${i}]`, item));
        return;
      }
      const rec = asRecord(v);
      if (rec !== undefined && Object.keys(rec).length > 0) {
        for (const [k, child] of Object.entries(rec)) visit(`${p}.${k}`, child);
        return;
      }
      if (rec !== undefined) return;
      this.drops.push({ field: `${this.label}${p}`, why });
    };
    visit(path, valueAt(this.root, path));
  }

  private covered(path: string): boolean {
    for (let p = path; p !== ''; p = parentOf(p)) if (this.used.has(p)) return true;
    return false;
  }
}

function parentOf(path: string): string {
  const cut = Math.max(path.lastIndexOf('.'), path.lastIndexOf('['));
  return cut <= 0 ? '' : path.slice(0, cut);
}

/** `spec.data[0].remoteRef` → the value; keys may contain anything but `.` and `[`. */
export function valueAt(root: unknown, path: string): unknown {
  let v = root;
  for (const part of path.match(/[^.[\]]+|\[\d+\]/g) ?? []) {
    if (part.startsWith('[')) {
      v = Array.isArray(v) ? (v as unknown[])[Number(part.slice(1, -1))] : undefined;
    } else {
      v = asRecord(v)?.[part];
    }
    if (v === undefined) return undefined;
  }
  return v;
}
