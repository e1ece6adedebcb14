import { parseDuration } from '../api/duration.js';
import type { DatabaseSource } from '../api/dynamic.js';
import { SyncError } from '../errors.js';
import type { Clock } from '../core/types.js';
import { enginePath, identityKey } from '../vault/index.js';
import type { VaultIdentity, VaultLeases } from '../vault/types.js';
import type { Issued } from './lease-keeper.js';
import { effectiveRenewBeforeMs } from './lease-timing.js';

export interface DynamicContext {
  identity: VaultIdentity;
  tenant: string;
  priority: number;
}

/** What the database source asks the keeper for: how to issue, and the fingerprint of the request. */
export function databaseRequest(
  item: DatabaseSource,
  ctx: DynamicContext,
  deps: { vault: VaultLeases; clock: Clock },
): { fingerprint: string; path: string; issue: (signal: AbortSignal) => Promise<Issued> } {
  const isStatic = item.static === true;
  const segment = isStatic ? 'static-creds' : 'creds';
  const path = enginePath(item.mount, segment, item.role);
  const where = `${item.mount}/${segment}/${item.role}`;
  const renewBefore = item.renewBefore === undefined ? undefined : parseDuration(item.renewBefore);
  const fingerprint = JSON.stringify([
    'database',
    identityKey(ctx.identity),
    item.mount,
    item.role,
    isStatic,
    renewBefore ?? null,
  ]);
  const issue = async (signal: AbortSignal): Promise<Issued> => {
    const answer = await deps.vault.issue(
      {
        ...ctx,
        method: 'GET',
        path,
        what: `database credentials ${where}`,
        hint: `check that the ${isStatic ? 'static ' : ''}role ${item.role} exists on the database mount ${item.mount} and its database is reachable`,
      },
      signal,
    );
    const { username, password, ttl } = answer.data;
    if (typeof username !== 'string' || username === '' || typeof password !== 'string' || password === '') {
      throw new SyncError(
        'BadVaultData',
        `Vault answered the issue of database credentials ${where} without a username and password`,
      );
    }
    const now = deps.clock.now();
    if (isStatic) {
      // Static credentials have no lease: data.ttl is the time to Vault's next rotation.
      const ttlMs = typeof ttl === 'number' && Number.isFinite(ttl) && ttl > 0 ? ttl * 1000 : 3_600_000;
      return {
        leaseId: '',
        renewable: false,
        data: { username, password },
        durationMs: ttlMs,
        expiresAt: now + ttlMs,
        renewBeforeMs: 0,
        rereadAfterExpiry: true,
      };
    }
    if (answer.leaseId === '' || answer.leaseDurationSeconds <= 0) {
      throw new SyncError('BadVaultData', `Vault answered the issue of database credentials ${where} without a lease`);
    }
    const durationMs = answer.leaseDurationSeconds * 1000;
    const expiresAt = now + durationMs;
    return {
      leaseId: answer.leaseId,
      renewable: answer.renewable,
      data: { username, password },
      durationMs,
      expiresAt,
      ...(answer.renewable ? {} : { hardExpiresAt: expiresAt }),
      renewBeforeMs: effectiveRenewBeforeMs(renewBefore, durationMs),
    };
  };
  return { fingerprint, path, issue };
}
