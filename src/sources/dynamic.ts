import type { SecretSync, SourceItem } from '../api/index.js';
import type { Clock, Key } from '../core/types.js';
import type { VaultLeases } from '../vault/types.js';
import { databaseRequest, type DynamicContext } from './database.js';
import type { LeaseKeeper } from './lease-keeper.js';
import { pkiRequest } from './pki.js';
import type { Source, SourceRequest, SourceResult, SourceTarget } from './types.js';

export interface DynamicSourceDeps {
  vault: VaultLeases;
  keeper: LeaseKeeper;
  clock: Clock;
}

/** The dynamic slots of the SecretSync `sync` if it has uid `uid`; undefined when it is gone (the sweep's view). */
export function dynamicSlotsOf(sync: SecretSync | undefined, uid: string): ReadonlySet<string> | undefined {
  return sync !== undefined && sync.metadata.uid === uid ? liveSlots(sync) : undefined;
}

/** Slots of a SecretSync that dynamic sources hold: the indices of its database and pki items. */
function liveSlots(sync: SecretSync): Set<string> {
  const slots = new Set<string>();
  (sync.spec.sources ?? []).forEach((item, i) => {
    if (item.database !== undefined || item.pki !== undefined) slots.add(String(i));
  });
  return slots;
}

function context(req: SourceRequest): DynamicContext {
  return { identity: req.identity, tenant: req.sync.metadata.namespace, priority: req.priority };
}

async function obtain(
  deps: DynamicSourceDeps,
  req: SourceRequest,
  made: { fingerprint: string; issue: (signal: AbortSignal) => Promise<import('./lease-keeper.js').Issued> },
  signal: AbortSignal,
  certificate = false,
): Promise<SourceResult> {
  const key: Key = `${req.sync.metadata.namespace}/${req.sync.metadata.name}`;
  const got = await deps.keeper.obtain(
    {
      key,
      uid: req.sync.metadata.uid,
      slot: String(req.index),
      liveSlots: liveSlots(req.sync),
      identity: req.identity,
      fingerprint: made.fingerprint,
      tenant: req.sync.metadata.namespace,
      priority: req.priority,
      issue: made.issue,
    },
    signal,
  );
  return {
    data: got.data,
    version: got.generation,
    refreshWithinMs: got.refreshWithinMs,
    ...(certificate ? { notAfter: got.expiresAt } : {}),
  };
}

/**
 * Database credentials (`<mount>/creds/<role>`, or `static-creds`), as `username` and `password`.
 * What it holds lives in the lease keeper; releasing a SecretSync revokes its leases.
 */
export function databaseSource(deps: DynamicSourceDeps): Source {
  return {
    kind: 'database',
    target(item: SourceItem): SourceTarget | undefined {
      const db = item.database;
      if (db === undefined) return undefined;
      return { mount: db.mount, path: `${db.static === true ? 'static-creds' : 'creds'}/${db.role}` };
    },
    read(req: SourceRequest, signal: AbortSignal): Promise<SourceResult> {
      const db = req.item.database;
      if (db === undefined) throw new Error('databaseSource.read called for an item of another kind');
      return obtain(deps, req, databaseRequest(db, context(req), deps), signal);
    },
    release: (key: Key, signal: AbortSignal) => deps.keeper.release(key, signal),
  };
}

/** A certificate (`<mount>/issue/<role>`) as `tls.crt`, `tls.key` and `ca.crt`, issued again before it expires. */
export function pkiSource(deps: DynamicSourceDeps): Source {
  return {
    kind: 'pki',
    target(item: SourceItem): SourceTarget | undefined {
      const pki = item.pki;
      if (pki === undefined) return undefined;
      return { mount: pki.mount, path: `issue/${pki.role}` };
    },
    read(req: SourceRequest, signal: AbortSignal): Promise<SourceResult> {
      const pki = req.item.pki;
      if (pki === undefined) throw new Error('pkiSource.read called for an item of another kind');
      return obtain(deps, req, pkiRequest(pki, context(req), deps), signal, true);
    },
    // Certificates hold no lease; the database source's release already revokes the SecretSync's leases.
  };
}
