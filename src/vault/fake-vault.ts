/* A Vault stand-in at the HTTP level, for this folder's tests only. */
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';

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

interface Version {
  data: Record<string, unknown> | null;
  deleted?: boolean;
  destroyed?: boolean;
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
export class FakeVault {
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

  readonly #tokens = new Map<string, string>();
  readonly #secrets = new Map<string, Version[]>();
  #issued = 0;
  #server: http.Server | undefined;
  url = '';

  put(mountAndPath: string, data: Record<string, unknown>): number {
    const versions = this.#secrets.get(mountAndPath) ?? [];
    versions.push({ data });
    this.#secrets.set(mountAndPath, versions);
    return versions.length;
  }

  deleteVersion(mountAndPath: string, version: number, how: 'deleted' | 'destroyed'): void {
    const v = this.#secrets.get(mountAndPath)?.[version - 1];
    if (v === undefined) throw new Error('no such version');
    v.data = null;
    v[how] = true;
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
    const versions = this.#secrets.get(where);
    const n = attempt.version ?? versions?.length ?? 0;
    const v = versions?.[n - 1];
    if (v === undefined) return { status: 404, body: { errors: [] } };
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
