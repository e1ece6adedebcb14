import { ApiException, Observable, type ConfigurationOptions, type RequestContext } from '@kubernetes/client-node';
import { SyncError, type Reason } from '../errors.js';
import { asRecord } from '../core/json.js';

/** Default bound on one API-server request; client-node's fetch has none of its own. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;

export interface CallOptions {
  signal?: AbortSignal | undefined;
  timeoutMs?: number;
  /** Overrides the Content-Type the generated client picks (it defaults patches to json-patch). */
  contentType?: string;
}

/**
 * Per-call options for the generated API clients: an abort signal (the caller's, bounded by a
 * timeout) and optionally a Content-Type. Middleware is appended so the KubeConfig's own
 * (User-Agent) still runs.
 */
export function callOptions(opts: CallOptions = {}): ConfigurationOptions {
  const timeout = AbortSignal.timeout(opts.timeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS);
  const signal = opts.signal ? AbortSignal.any([opts.signal, timeout]) : timeout;
  const { contentType } = opts;
  return {
    middleware: [
      {
        pre: (ctx: RequestContext) => {
          ctx.setSignal(signal);
          if (contentType !== undefined) ctx.setHeaderParam('Content-Type', contentType);
          return new Observable(Promise.resolve(ctx));
        },
        post: (rsp) => new Observable(Promise.resolve(rsp)),
      },
    ],
    middlewareMergeStrategy: 'append',
  };
}

/** HTTP status of a failed API call, or undefined when none was received (network, timeout). */
export function apiStatus(err: unknown): number | undefined {
  if (err instanceof ApiException) return (err as ApiException<unknown>).code;
  return undefined;
}

const MAX_DETAIL = 300;

/**
 * The API server's own explanation (Status.message) or the transport error's message, shortened.
 * Status messages name objects and fields, not Secret values.
 */
export function apiErrorDetail(err: unknown): string {
  if (err instanceof ApiException) {
    const body: unknown = (err as ApiException<unknown>).body;
    const message = statusMessage(body);
    return truncate(message ?? `HTTP ${(err as ApiException<unknown>).code}`);
  }
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
