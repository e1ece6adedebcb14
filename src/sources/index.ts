import type { SecretSync } from '../api/index.js';
import { SyncError } from '../errors.js';
import type { Source, SourceTarget } from './types.js';

export { kvSource } from './kv.js';
export type { Source, SourceRequest, SourceResult, SourceTarget } from './types.js';

/** The source a SecretSync's spec selects, and what it reads. Throws InvalidSpec if none does. */
export function selectSource(sources: readonly Source[], sync: SecretSync): { source: Source; target: SourceTarget } {
  for (const source of sources) {
    const target = source.target(sync);
    if (target !== undefined) return { source, target };
  }
  const kinds = sources.map((s) => s.kind).join(', ');
  throw new SyncError('InvalidSpec', `spec.vault names no source this controller knows (one of: ${kinds})`);
}
