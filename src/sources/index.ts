import type { SecretSync, SecretSyncSpec, SourceItem } from '../api/index.js';
import { SyncError } from '../errors.js';
import type { Source, SourceTarget } from './types.js';

export { kvSource } from './kv.js';
export { databaseSource, dynamicSlotsOf, pkiSource } from './dynamic.js';
export { LeaseKeeper, startLeaseSweeps } from './lease-keeper.js';
export type { Source, SourceRequest, SourceResult, SourceTarget } from './types.js';

/** One source item of a SecretSync, with the Source that reads it. */
export interface SelectedSource {
  item: SourceItem;
  index: number;
  /** Where the item sits in the spec, for messages: `spec.sources[1]` or `spec.vault.kv`. */
  field: string;
  source: Source;
  target: SourceTarget;
}

/**
 * The source items of a spec: spec.sources, or the spec.vault.kv shorthand (with spec.data as its
 * picks) as the one item. Everything downstream handles a list.
 */
export function sourceItems(spec: SecretSyncSpec): { item: SourceItem; field: string }[] {
  if (spec.sources !== undefined) return spec.sources.map((item, i) => ({ item, field: `spec.sources[${i}]` }));
  if (spec.vault.kv === undefined) return [];
  return [
    { item: { kv: spec.vault.kv, ...(spec.data === undefined ? {} : { data: spec.data }) }, field: 'spec.vault.kv' },
  ];
}

/** Every source item of a SecretSync with the source that reads it. Throws InvalidSpec if an item
 *  is of no kind this controller knows, or the spec has none. */
export function selectSources(sources: readonly Source[], sync: SecretSync): SelectedSource[] {
  const items = sourceItems(sync.spec);
  if (items.length === 0) {
    throw new SyncError('InvalidSpec', 'the spec has neither spec.vault.kv nor spec.sources: set exactly one');
  }
  return items.map(({ item, field }, index) => {
    for (const source of sources) {
      const target = source.target(item, sync);
      if (target !== undefined) return { item, index, field, source, target };
    }
    const kinds = sources.map((s) => s.kind).join(', ');
    throw new SyncError('InvalidSpec', `${field} names no source this controller knows (one of: ${kinds})`);
  });
}
