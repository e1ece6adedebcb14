import type { ErrorClass } from '../scheduler/index.js';
import { isSyncError, type SyncError } from '../errors.js';

/**
 * How the scheduler should treat a reconcile error. A dependency is named when its being down is
 * why the sync failed: Vault unreachable or answering 5xx/429 (VaultUnavailable), or the API server
 * not answering or answering 5xx/429 — or 403, which a restarting API server answers until its RBAC
 * caches are filled (a lasting 403 only costs an extra retry when the API server comes back).
 * Anything else (a conflict, a refused object, bad data) is the SecretSync's own problem.
 */
export function classifyError(err: unknown): ErrorClass {
  if (!isSyncError(err)) {
    const { errorType, frames } = describeError(err);
    return {
      terminal: false,
      expected: false,
      summary: `${errorType}${frames?.[0] === undefined ? '' : ` ${frames[0]}`}`,
    };
  }
  const summary = `${err.reason}: ${err.message}`;
  return { terminal: err.terminal, expected: true, summary, ...dependencyOf(err) };
}

function dependencyOf(err: SyncError): { dependency?: string } {
  if (err.terminal) return {};
  // Per Vault address: a tenant's dead Vault coming back (or not) says nothing of another's.
  if (err.reason === 'VaultUnavailable') return { dependency: err.dependency ?? 'vault' };
  const status = err.status;
  if (
    err.reason === 'KubernetesApiError' &&
    (status === undefined || status === 403 || status === 429 || status >= 500)
  ) {
    return { dependency: 'kubernetes' };
  }
  return {};
}

/**
 * The type and stack frames of an error, without its message, for logs: messages of errors that are
 * not SyncErrors (an HTTP client's, a parser's) may quote secret data, and the object's other fields
 * (request config, cause) may carry tokens. The one describer of foreign errors.
 */
export function describeError(err: unknown): { errorType: string; frames?: string[] } {
  if (!(err instanceof Error)) return { errorType: typeof err };
  const frames = (err.stack ?? '')
    .split('\n')
    .filter((line) => line.trimStart().startsWith('at '))
    .map((line) => line.trim());
  return { errorType: err.constructor.name, frames };
}
