import { SyncError, type Reason } from '../errors.js';
import { asRecord } from '../core/json.js';

/** Default bound on one API-server request. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;

/** Per-call options of the API clients built on the plain client (leases, events, tokens, …). */
export interface CallOptions {
  signal?: AbortSignal | undefined;
  timeoutMs?: number;
}

/**
 * A non-2xx answer of the API server: `code` is the HTTP status, `body` the answer's text (a Status
 * object, shortened). The field names are client-node's ApiException's, which this replaces.
 */
export class KubeApiError extends Error {
  constructor(
    readonly code: number,
    readonly body: string,
    readonly headers: Readonly<Record<string, string>>,
  ) {
    super(`HTTP ${code}${statusSuffix(body)}`);
    this.name = 'KubeApiError';
  }
}

function statusSuffix(body: string): string {
  const message = statusMessage(body);
  return message === undefined ? '' : `: ${truncate(message)}`;
}

/** HTTP status of a failed API call, or undefined when none was received (network, timeout). */
export function apiStatus(err: unknown): number | undefined {
  return err instanceof KubeApiError ? err.code : undefined;
}

const MAX_DETAIL = 300;

/**
 * The API server's own explanation (Status.message) or the transport error's message, shortened.
 * Status messages name objects and fields, not Secret values.
 */
export function apiErrorDetail(err: unknown): string {
  if (err instanceof KubeApiError) return truncate(statusMessage(err.body) ?? `HTTP ${err.code}`);
  if (err instanceof Error) return truncate(err.message);
  return 'unknown error';
}

function statusMessage(body: unknown): string | undefined {
  let parsed: unknown = body;
  if (typeof body === 'string') {
    try {
      parsed = JSON.parse(body);
    } catch {
      // Not a Status object (a proxy's HTML page, say): the status code alone must do.
      return undefined;
    }
  }
  const message = asRecord(parsed)?.message;
  return typeof message === 'string' ? message : undefined;
}

function truncate(s: string): string {
  return s.length > MAX_DETAIL ? `${s.slice(0, MAX_DETAIL)}…` : s;
}

/** One message shape for every failed API call: verb, resource, name, status and the server's reason. */
export function kubeError(
  reason: Reason,
  what: { verb: string; resource: string; namespace?: string; name?: string },
  err: unknown,
): SyncError {
  const status = apiStatus(err);
  const target = [what.namespace, what.name].filter((s) => s !== undefined && s !== '').join('/');
  const code = status === undefined ? 'no response' : `HTTP ${status}`;
  const message = `${what.verb} ${what.resource}${target === '' ? '' : ` ${target}`} failed (${code}): ${apiErrorDetail(err)}`;
  return new SyncError(reason, message, { cause: err, status });
}
