/**
 * Vault stand-ins for tests, over one data model: `KvStore`, versioned KV v2 secrets.
 *
 * - `FakeVaultServer` speaks Vault's HTTP API on a local port (Kubernetes-auth login, tokens, KV v2
 *   reads), for the tests of the real client in src/vault.
 * - `FakeVaultReader` is the `VaultReader` interface in memory, for the tests of what sits above the
 *   client (reconcile, sources), which need Vault's answers but not its wire format.
 */
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { SyncError } from '../../errors.js';
import type { KvReadRequest, KvSecret, VaultReader } from '../types.js';

export interface Recorded {
  method: string;
  /** The raw request URL, as encoded on the wire. */
  url: string;
  headers: http.IncomingHttpHeaders;
  body: unknown;
  at: number;
}

export interface Reply {
  status: number;
  /** Sent as JSON. */
  body?: unknown;
  /** Sent verbatim instead of `body`. */
  raw?: string | Buffer;
  /** Extra response headers. */
  headers?: Record<string, string>;
  delayMs?: number;
}

export interface KvVersion {
  /** null once the version is deleted or destroyed. */
  data: Record<string, unknown> | null;
  deleted?: boolean;
  destroyed?: boolean;
}

/** KV v2 secrets by `mount/path`, each a list of versions numbered from 1. */
export class KvStore {
  readonly #secrets = new Map<string, (KvVersion | undefined)[]>();

  /** Writes the next version, or the given one (earlier versions left unwritten read as missing). */
  put(mountAndPath: string, data: Record<string, unknown>, version?: number): number {
    const versions = this.#secrets.get(mountAndPath) ?? [];
    const n = version ?? versions.length + 1;
    versions[n - 1] = { data };
    this.#secrets.set(mountAndPath, versions);
    return n;
  }

  deleteVersion(mountAndPath: string, version: number, how: 'deleted' | 'destroyed'): void {
    const v = this.#secrets.get(mountAndPath)?.[version - 1];
    if (v === undefined) throw new Error('no such version');
    v.data = null;
    v[how] = true;
  }

  /** The pinned version, or the latest; undefined if it was never written. */
  get(mountAndPath: string, version?: number): { version: number; entry: KvVersion } | undefined {
    const versions = this.#secrets.get(mountAndPath);
    const n = version ?? versions?.length ?? 0;
    const entry = versions?.[n - 1];
    return entry === undefined ? undefined : { version: n, entry };
  }
}

export interface LoginAttempt {
  mount: string;
  role: string;
  jwt: string;
}

export interface ReadAttempt {
  mount: string;
  path: string;
  version: number | undefined;
  token: string | undefined;
  /** The role the token was issued to, if it is a live token. */
  role: string | undefined;
}

/**
 * Implements `POST /v1/auth/<mount>/login` and `GET /v1/<mount>/data/<path>` with a token store
 * and versioned secrets. `onLogin`/`onRead` let a test answer differently.
 */
export class FakeVaultServer {
  readonly kv = new KvStore();
  readonly requests: Recorded[] = [];
  logins: LoginAttempt[] = [];
  reads: ReadAttempt[] = [];
  /** lease_duration of issued tokens. */
  ttlSeconds = 3600;
  /** Roles whose logins are refused with 403. */
  readonly deniedRoles = new Set<string>();
  /** `role mount/path` pairs a role may not read. */
  readonly forbiddenReads = new Set<string>();
  onLogin: ((attempt: LoginAttempt) => Reply | undefined) | undefined;
  onRead: ((attempt: ReadAttempt) => Reply | undefined) | undefined;
  /** Delay of every answer. */
  delayMs = 0;
  /** Answers a request itself (a misbehaving server: trickling bodies, ...) when it returns true. */
  onRaw: ((req: http.IncomingMessage, res: http.ServerResponse) => boolean) | undefined;
  /** TCP connections accepted, and those of them closed since. */
  accepted = 0;
  closed = 0;

  readonly #tokens = new Map<string, string>();
  #issued = 0;
  #server: http.Server | undefined;
  url = '';

  /** Writes the next version of a secret; returns its number. */
  put(mountAndPath: string, data: Record<string, unknown>): number {
    return this.kv.put(mountAndPath, data);
  }

  deleteVersion(mountAndPath: string, version: number, how: 'deleted' | 'destroyed'): void {
    this.kv.deleteVersion(mountAndPath, version, how);
  }

  revokeAll(): void {
    this.#tokens.clear();
  }

  /** Tokens issued so far, in order (for canary checks). */
  issuedToken(n: number): string {
    return `hvs.fake-token-${n}`;
  }

  async start(tls?: { key: string; cert: string }): Promise<this> {
    const handler = (req: http.IncomingMessage, res: http.ServerResponse) => {
      this.#handle(req, res);
    };
    this.#server = tls === undefined ? http.createServer(handler) : https.createServer(tls, handler);
    const server = this.#server;
    server.on(tls === undefined ? 'connection' : 'secureConnection', (socket: Socket) => {
      this.accepted += 1;
      socket.on('close', () => (this.closed += 1));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    this.url = `${tls === undefined ? 'http' : 'https'}://127.0.0.1:${port}`;
    return this;
  }

  async close(): Promise<void> {
    const server = this.#server;
    if (server === undefined) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) =>
      server.close(() => {
        resolve();
      }),
    );
  }

  #handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      let body: unknown = undefined;
      if (text !== '') body = JSON.parse(text) as unknown;
      const url = req.url ?? '';
      this.requests.push({ method: req.method ?? '', url, headers: req.headers, body, at: Date.now() });
      if (this.onRaw?.(req, res) === true) return;
      const reply = this.#route(req, url, body);
      const send = () => {
        if (res.destroyed) return;
        res.writeHead(reply.status, { 'content-type': 'application/json', ...reply.headers });
        res.end(reply.raw ?? (reply.body === undefined ? '' : JSON.stringify(reply.body)));
      };
      const delay = reply.delayMs ?? this.delayMs;
      if (delay > 0) setTimeout(send, delay);
      else send();
    });
  }

  #route(req: http.IncomingMessage, url: string, body: unknown): Reply {
    const [pathname = '', query = ''] = url.split('?');
    const decode = (s: string) => s.split('/').map(decodeURIComponent).join('/');
    const login = /^\/v1\/auth\/(.+)\/login$/.exec(pathname);
    if (req.method === 'POST' && login?.[1] !== undefined) {
      const b = body as { role?: string; jwt?: string } | undefined;
      const attempt = { mount: decode(login[1]), role: b?.role ?? '', jwt: b?.jwt ?? '' };
      this.logins.push(attempt);
      return this.onLogin?.(attempt) ?? this.#login(attempt);
    }
    const read = /^\/v1\/(.+?)\/data\/(.+)$/.exec(pathname);
    if (req.method === 'GET' && read?.[1] !== undefined && read[2] !== undefined) {
      const version = new URLSearchParams(query).get('version');
      const tokenHeader = req.headers['x-vault-token'];
      const token = typeof tokenHeader === 'string' ? tokenHeader : undefined;
      const attempt: ReadAttempt = {
        mount: decode(read[1]),
        path: decode(read[2]),
        version: version === null ? undefined : Number(version),
        token,
        role: token === undefined ? undefined : this.#tokens.get(token),
      };
      this.reads.push(attempt);
      return this.onRead?.(attempt) ?? this.#read(attempt);
    }
    return { status: 404, body: { errors: [] } };
  }

  #login(attempt: LoginAttempt): Reply {
    if (this.deniedRoles.has(attempt.role) || attempt.jwt === '') {
      return { status: 403, body: { errors: ['permission denied'] } };
    }
    this.#issued += 1;
    const token = this.issuedToken(this.#issued);
    this.#tokens.set(token, attempt.role);
    return {
      status: 200,
      body: { auth: { client_token: token, lease_duration: this.ttlSeconds, renewable: true, policies: ['default'] } },
    };
  }

  #read(attempt: ReadAttempt): Reply {
    const where = `${attempt.mount}/${attempt.path}`;
    if (attempt.role === undefined || this.forbiddenReads.has(`${attempt.role} ${where}`)) {
      return { status: 403, body: { errors: ['1 error occurred:\n\t* permission denied\n\n'] } };
    }
    const found = this.kv.get(where, attempt.version);
    if (found === undefined) return { status: 404, body: { errors: [] } };
    const { version: n, entry: v } = found;
    const metadata = {
      created_time: '2024-01-01T00:00:00.000Z',
      custom_metadata: null,
      deletion_time: v.deleted === true ? '2024-02-01T00:00:00.000Z' : '',
      destroyed: v.destroyed === true,
      version: n,
    };
    if (v.data === null) return { status: 404, body: { data: { data: null, metadata } } };
    return { status: 200, body: { request_id: 'r', data: { data: v.data, metadata } } };
  }
}

/**
 * A `VaultReader` over a `KvStore`, in memory. Reads the pinned or latest version; a missing,
 * deleted or destroyed one is `VaultPathNotFound`, as the real reader reports it. `fail` makes the
 * reads of one path throw until the next `put` there. Every request is recorded.
 */
export class FakeVaultReader implements VaultReader {
  readonly kv = new KvStore();
  readonly requests: KvReadRequest[] = [];
  readonly #failures = new Map<string, unknown>();

  put(mountAndPath: string, data: Record<string, unknown>, version?: number): number {
    this.#failures.delete(mountAndPath);
    return this.kv.put(mountAndPath, data, version);
  }

  /** Reads of `mountAndPath` throw `thrown` (any value, as a misbehaving client might) until the next put. */
  fail(mountAndPath: string, thrown: unknown): void {
    this.#failures.set(mountAndPath, thrown);
  }

  readKv(req: KvReadRequest): Promise<KvSecret> {
    this.requests.push(structuredClone(req));
    const where = `${req.mount}/${req.path}`;
    // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- a misbehaving client may throw anything; the fuzz test throws strings and plain objects on purpose
    if (this.#failures.has(where)) return Promise.reject(this.#failures.get(where));
    const found = this.kv.get(where, req.version);
    if (found === undefined || found.entry.data === null) {
      return Promise.reject(new SyncError('VaultPathNotFound', `no secret at ${where}`));
    }
    return Promise.resolve({ data: structuredClone(found.entry.data), version: found.version });
  }
}
