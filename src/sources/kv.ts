import type { SourceItem } from '../api/index.js';
import type { VaultReader } from '../vault/types.js';
import type { Source, SourceRequest, SourceResult, SourceTarget } from './types.js';

/** KV v2: `<mount>/data/<path>`, latest or a pinned version. Holds nothing, so it releases nothing. */
export function kvSource(vault: VaultReader): Source {
  return {
    kind: 'kv',
    target(item: SourceItem): SourceTarget | undefined {
      const kv = item.kv;
      if (kv === undefined) return undefined;
      return { mount: kv.mount, path: kv.path, ...(kv.version === undefined ? {} : { version: kv.version }) };
    },
    async read(req: SourceRequest, signal: AbortSignal): Promise<SourceResult> {
      const secret = await vault.readKv(
        {
          identity: req.identity,
          mount: req.target.mount,
          path: req.target.path,
          ...(req.target.version === undefined ? {} : { version: req.target.version }),
          fresh: req.fresh,
          ...(req.freshSince === undefined ? {} : { freshSince: req.freshSince }),
          maxAgeMs: req.maxAgeMs,
          priority: req.priority,
          tenant: req.sync.metadata.namespace,
        },
        signal,
      );
      return {
        data: secret.data,
        version: secret.version,
        ...(secret.readAt === undefined ? {} : { readAt: secret.readAt }),
      };
    },
  };
}
