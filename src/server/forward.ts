/**
 * Push refresh through a Service with several replicas: a standby that receives a signed refresh
 * forwards it, bytes and signature unchanged, to the leader, whose webhook address the leader
 * publishes on the leader-election Lease (LEADER_WEBHOOK_ANNOTATION). See docs/webhook.md.
 *
 * Invariants:
 * - Only requests whose signature checked out on the standby are forwarded (nobody without a key
 *   can make replicas talk to each other), and the leader checks the signature again: a forward
 *   adds no authority, it only says which client the request came from.
 * - One hop: a forwarded request that reaches a replica which is not the leader is answered 503
 *   with NOT_LEADER_HEADER, never forwarded again; the standby then waits for the Lease to name
 *   a reachable leader, up to its handover wait.
 * - The hop header is a MAC, with a key derived from the controller's hash key (which only the
 *   replicas hold), over its time, the client, the method and URL and the request's signature
 *   headers: it cannot be forged, nor moved to another request. With it the leader takes the
 *   client from FORWARDED_FOR_HEADER for its rate limits and log, as it would for a trusted proxy.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Clock, Logger } from '../core/types.js';
import type { Headers } from './auth.js';
import { GITHUB_DELIVERY_HEADER, GITHUB_SIGNATURE_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER } from './signature.js';

/** Where the leader's webhook listens (host:port), on the leader-election Lease. */
export const LEADER_WEBHOOK_ANNOTATION = 'vaultsync.io/webhook-address';
export const FORWARD_HEADER = 'x-vaultsync-forward';
export const FORWARDED_FOR_HEADER = 'x-vaultsync-forwarded-for';
/** On a 503 from a replica that received a forward but does not lead (any more). */
export const NOT_LEADER_HEADER = 'x-vaultsync-not-leader';
/** How far a forward's time may be from the receiver's clock. */
export const FORWARD_MAX_SKEW_MS = 60_000;
/** The request headers a forward carries: the signature's and the body's, nothing else. */
const FORWARDED_HEADERS = [
  'content-type',
  TIMESTAMP_HEADER,
  SIGNATURE_HEADER,
  GITHUB_SIGNATURE_HEADER,
  GITHUB_DELIVERY_HEADER,
  'x-github-event',
] as const;
const RETRY_PAUSE_MS = 200;
const MAX_ATTEMPT_MS = 2_000;

/** The forward key, derived from the hash key all replicas share (a key of its own for this use). */
export function forwardKey(hashKey: Buffer): Buffer {
  return createHmac('sha256', hashKey).update('vaultsync webhook forward v1').digest();
}

interface HopFields {
  atMs: number;
  client: string;
  method: string;
  url: string;
  headers: Headers;
}

function hopMac(key: Buffer, f: HopFields): Buffer {
  const signed = [GITHUB_SIGNATURE_HEADER, GITHUB_DELIVERY_HEADER, TIMESTAMP_HEADER, SIGNATURE_HEADER].map(
    (h) => `${h}=${String(f.headers[h] ?? '')}`,
  );
  return createHmac('sha256', key)
    .update([String(f.atMs), f.client, f.method, f.url, ...signed].join('\n'))
    .digest();
}

export type HopCheck = { ok: true; client: string } | { ok: false; message: string };

/** The hop header of a request, checked; undefined when the request was not forwarded. */
export function checkHop(
  key: Buffer,
  nowMs: number,
  method: string,
  url: string,
  headers: Headers,
): HopCheck | undefined {
  const hop = headers[FORWARD_HEADER];
  if (hop === undefined) return undefined;
  const client = headers[FORWARDED_FOR_HEADER];
  const m = typeof hop === 'string' ? /^t=([0-9]{1,15}),mac=([0-9a-f]{64})$/.exec(hop) : null;
  if (m === null || typeof client !== 'string' || client === '' || client.length > 64) {
    return { ok: false, message: `malformed ${FORWARD_HEADER}` };
  }
  const atMs = Number(m[1]);
  if (Math.abs(nowMs - atMs) > FORWARD_MAX_SKEW_MS) return { ok: false, message: `stale ${FORWARD_HEADER}` };
  const expected = hopMac(key, { atMs, client, method, url, headers });
  if (!timingSafeEqual(expected, Buffer.from(m[2] ?? '', 'hex'))) {
    return { ok: false, message: `${FORWARD_HEADER} does not match` };
  }
  return { ok: true, client };
}

/** Which replica leads, and where its webhook listens (from the Lease). */
export interface LeaderView {
  isLeader(): boolean;
  /** host:port of the leader's webhook; undefined when no other replica holds the Lease or it published none. */
  leaderAddress(): string | undefined;
  /** Reads the Lease afresh (leaderAddress may be stale: e.g. this replica released it and drains). */
  look?(timeoutMs: number): Promise<void>;
  /** Whether a push no leader took may be queued here for this replica's takeover (false once it stops). */
  canDefer?(): boolean;
}

export interface ForwardRequest {
  method: string;
  /** Path and query, as received. */
  url: string;
  headers: Headers;
  body: Buffer;
  /** The client as this replica determined it. */
  client: string;
}

export type ForwardResult =
  /** The leader answered: relay it. */
  | { kind: 'answered'; status: number; body: string; retryAfter?: string; leader: string }
  /** This replica took the Lease meanwhile: handle the request here. */
  | { kind: 'leading' }
  /** No reachable leader within the handover wait. */
  | { kind: 'no-leader'; why: string };

export interface ForwarderOptions {
  leader: LeaderView;
  key: Buffer;
  /** How long a standby waits for a reachable leader (a handover in progress). */
  waitMs: number;
  clock: Clock;
  log: Logger;
  fetch?: typeof fetch;
  sleep?: (ms: number) => Promise<void>;
}

export class Forwarder {
  readonly #o: ForwarderOptions;
  readonly #fetch: typeof fetch;
  readonly #sleep: (ms: number) => Promise<void>;

  constructor(o: ForwarderOptions) {
    this.#o = o;
    this.#fetch = o.fetch ?? ((input, init) => fetch(input, init));
    this.#sleep = o.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
  }

  /** See LeaderView.canDefer. */
  canDefer(): boolean {
    return this.#o.leader.canDefer?.() ?? true;
  }

  /** Forwards to the leader, waiting up to waitMs for one that answers as leader. */
  async forward(req: ForwardRequest): Promise<ForwardResult> {
    const { leader, clock, waitMs } = this.#o;
    const deadline = clock.now() + waitMs;
    let why = 'no replica holds the Lease';
    for (;;) {
      if (leader.isLeader()) return { kind: 'leading' };
      const address = leader.leaderAddress();
      const left = deadline - clock.now();
      if (address === undefined) why = 'no leader has published its webhook address';
      else {
        const result = await this.#attempt(address, req, Math.max(1, Math.min(left, MAX_ATTEMPT_MS)));
        if (result.kind !== 'no-leader') return result;
        why = result.why;
      }
      const now = clock.now();
      if (now >= deadline) return { kind: 'no-leader', why };
      await this.#sleep(Math.min(RETRY_PAUSE_MS, deadline - now));
      await leader.look?.(Math.max(1, Math.min(deadline - clock.now(), MAX_ATTEMPT_MS)));
    }
  }

  async #attempt(address: string, req: ForwardRequest, timeoutMs: number): Promise<ForwardResult> {
    const atMs = this.#o.clock.now();
    const headers: Record<string, string> = {};
    for (const h of FORWARDED_HEADERS) {
      const v = req.headers[h];
      if (typeof v === 'string') headers[h] = v;
    }
    const mac = hopMac(this.#o.key, { atMs, client: req.client, method: req.method, url: req.url, headers });
    headers[FORWARD_HEADER] = `t=${atMs},mac=${mac.toString('hex')}`;
    headers[FORWARDED_FOR_HEADER] = req.client;
    let res: Response;
    try {
      res = await this.#fetch(`http://${address}${req.url}`, {
        method: req.method,
        headers,
        body: req.body,
        redirect: 'manual',
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (err: unknown) {
      return { kind: 'no-leader', why: `leader ${address} did not answer: ${reason(err)}` };
    }
    const body = await res.text().catch(() => '');
    if (res.status === 503 && res.headers.get(NOT_LEADER_HEADER) !== null) {
      return { kind: 'no-leader', why: `${address} no longer leads` };
    }
    const retryAfter = res.headers.get('retry-after');
    return {
      kind: 'answered',
      status: res.status,
      body: body.slice(0, 4096),
      leader: address,
      ...(retryAfter === null ? {} : { retryAfter }),
    };
  }
}

function reason(err: unknown): string {
  if (err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError')) return 'timed out';
  const cause = err instanceof Error ? (err.cause as NodeJS.ErrnoException | undefined) : undefined;
  return cause?.code ?? (err instanceof Error ? err.message : 'failed');
}
