/**
 * A Vault-API peer on 127.0.0.1 that answers KV v2 reads badly on purpose, for the cases a real
 * OpenBao never produces (garbage bodies, HTML error pages, hangs, resets, oversize answers). A
 * SecretSync reaches it through `spec.vault.address`. Logins are passed to the real OpenBao, so the
 * controller's identity flow is the real one; the tokens and JWTs that pass through are recorded,
 * as canaries that must never show up in what the controller reports.
 */
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createNetServer, type AddressInfo, type Server as NetServer, type Socket } from 'node:net';
import { gzipSync } from 'node:zlib';

export type Mode =
  | 'good'
  | 'status500-garbage'
  | 'status502-html'
  | 'status429'
  | 'status403'
  | 'status500-echoes-token'
  | 'status404-garbage'
  | 'garbage200'
  | 'truncated200'
  | 'array200'
  | 'no-data200'
  | 'data-string200'
  | 'bad-version200'
  | 'html200'
  | 'proto200'
  | 'huge200'
  | 'giant200'
  | 'gzip-bomb200'
  | 'hang'
  | 'reset'
  // 307 to `redirectTo` (another server), to this server over https, or headers then a byte a second.
  | 'redirect-elsewhere'
  | 'redirect-scheme'
  | 'trickle';

export class MisbehavingVault {
  readonly url: string;
  /** Behaviour per KV path (the part after `/v1/<mount>/data/`); 'good' when unset. */
  readonly modes = new Map<string, Mode>();
  /** Version the 'good' answer reports per path; bump it to make the controller write. */
  readonly versions = new Map<string, number>();
  readonly seenTokens = new Set<string>();
  readonly seenJwts = new Set<string>();
  readonly reads = new Map<string, number>();
  /** Where 'redirect-elsewhere' reads, and all logins while `redirectLogins` is set, are sent (307). */
  redirectTo = '';
  redirectLogins = false;
  private readonly hanging = new Set<ServerResponse>();

  private constructor(
    private readonly server: Server,
    private readonly realVault: URL,
  ) {
    this.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  static async start(realVault: string): Promise<MisbehavingVault> {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const v = new MisbehavingVault(server, new URL(realVault));
    server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      v.handle(req, res);
    });
    return v;
  }

  static goodValue(path: string, version: number): string {
    return `misbehaving-good-${path.replace(/\W/g, '_')}-v${version}-canary`;
  }

  async close(): Promise<void> {
    for (const r of this.hanging) r.destroy();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', this.url);
    if (req.method === 'POST' && /^\/v1\/auth\/[^/]+\/login$/.test(url.pathname)) {
      if (this.redirectLogins) {
        res.writeHead(307, { location: `${this.redirectTo}${url.pathname}` }).end();
        return;
      }
      this.proxyLogin(req, res, url);
      return;
    }
    const m = /^\/v1\/[^/]+\/data\/(.+)$/.exec(url.pathname);
    if (req.method !== 'GET' || !m) {
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"errors":[]}');
      return;
    }
    const token = req.headers['x-vault-token'];
    if (typeof token === 'string') this.seenTokens.add(token);
    const path = decodeURIComponent(m[1] ?? '');
    this.reads.set(path, (this.reads.get(path) ?? 0) + 1);
    this.answer(this.modes.get(path) ?? 'good', path, typeof token === 'string' ? token : '', res, url);
  }

  private answer(mode: Mode, path: string, token: string, res: ServerResponse, url: URL): void {
    const json = (status: number, body: string) =>
      res
        .writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) })
        .end(body);
    const version = this.versions.get(path) ?? 1;
    const kv = (data: unknown, meta: Record<string, unknown> = { version }) =>
      JSON.stringify({
        request_id: 'x',
        data: {
          data,
          metadata: { created_time: '2025-01-01T00:00:00Z', deletion_time: '', destroyed: false, ...meta },
        },
      });
    switch (mode) {
      case 'good':
        return void json(200, kv({ value: MisbehavingVault.goodValue(path, version) }));
      case 'status500-garbage':
        return void res
          .writeHead(500, { 'content-type': 'text/plain' })
          .end('\u0000\u0001 panic: runtime error <<garbage>>');
      case 'status502-html':
        return void res
          .writeHead(502, { 'content-type': 'text/html' })
          .end('<html><body><h1>502 Bad Gateway</h1></body></html>');
      case 'status429':
        return void json(429, '{"errors":["request rate limited"]}');
      case 'status403':
        return void json(403, '{"errors":["1 error occurred:\\n\\t* permission denied\\n\\n"]}');
      case 'status500-echoes-token':
        // A broken proxy that quotes the request's token back: it must be scrubbed from messages.
        return void json(500, JSON.stringify({ errors: [`internal error handling token ${token}`] }));
      case 'status404-garbage':
        return void res.writeHead(404, { 'content-type': 'text/plain' }).end('no such thing \u0000');
      case 'garbage200':
        return void res.writeHead(200, { 'content-type': 'application/json' }).end('}{ this is not json');
      case 'truncated200':
        return void res.writeHead(200, { 'content-type': 'application/json' }).end('{"data":{"data":{"value":"trunc');
      case 'array200':
        return void json(200, '[1,2,3]');
      case 'no-data200':
        return void json(200, '{"data":null}');
      case 'data-string200':
        return void json(200, JSON.stringify({ data: { data: 'just a string', metadata: { version } } }));
      case 'bad-version200':
        return void json(200, kv({ value: 'x' }, { version: -3 }));
      case 'html200':
        return void res.writeHead(200, { 'content-type': 'text/html' }).end('<html>login page</html>');
      case 'proto200':
        // JSON.parse makes these own properties; rendering must keep them ordinary keys.
        return void json(
          200,
          `{"data":{"data":{"__proto__":{"polluted":"yes"},"constructor":"c","value":"p"},"metadata":{"version":${version},"created_time":"2025-01-01T00:00:00Z","deletion_time":"","destroyed":false}}}`,
        );
      case 'huge200':
        return void json(200, kv({ value: 'h'.repeat(1_200_000) }));
      case 'giant200': {
        // 48 MiB: far over any Secret, must be refused without the controller falling over.
        const body = kv({ value: 'g'.repeat(48 * 1024 * 1024) });
        return void json(200, body);
      }
      case 'gzip-bomb200': {
        // 48 MiB of JSON in about 48 KiB of gzip, sent although nobody asked for gzip.
        const body = gzipSync(kv({ value: 'b'.repeat(48 * 1024 * 1024) }));
        return void res
          .writeHead(200, {
            'content-type': 'application/json',
            'content-encoding': 'gzip',
            'content-length': body.length,
          })
          .end(body);
      }
      case 'hang':
        this.hanging.add(res);
        res.on('close', () => this.hanging.delete(res));
        return;
      case 'reset':
        res.socket?.destroy();
        return;
      case 'redirect-elsewhere':
        return void res.writeHead(307, { location: `${this.redirectTo}${url.pathname}` }).end();
      case 'redirect-scheme':
        return void res.writeHead(307, { location: `${this.url.replace('http:', 'https:')}${url.pathname}` }).end();
      case 'trickle': {
        // Headers at once, then one byte a second: never idle for long, never done.
        res.writeHead(200, { 'content-type': 'application/json' });
        res.write('{');
        this.hanging.add(res);
        const timer = setInterval(() => res.write(' '), 1_000);
        res.on('close', () => {
          clearInterval(timer);
          this.hanging.delete(res);
        });
        return;
      }
    }
  }

  private proxyLogin(req: IncomingMessage, res: ServerResponse, url: URL): void {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      try {
        const jwt = (JSON.parse(body.toString('utf8')) as { jwt?: unknown }).jwt;
        if (typeof jwt === 'string') this.seenJwts.add(jwt);
      } catch {
        // not JSON: passed on as it is, the real Vault answers it
      }
      const up = request(
        {
          hostname: this.realVault.hostname,
          port: this.realVault.port,
          method: 'POST',
          path: url.pathname,
          headers: { 'content-type': 'application/json', 'content-length': body.length },
        },
        (upRes) => {
          const out: Buffer[] = [];
          upRes.on('data', (c: Buffer) => out.push(c));
          upRes.on('end', () => {
            const text = Buffer.concat(out).toString('utf8');
            try {
              const token = (JSON.parse(text) as { auth?: { client_token?: unknown } }).auth?.client_token;
              if (typeof token === 'string') this.seenTokens.add(token);
            } catch {
              // an error page: nothing to record
            }
            res.writeHead(upRes.statusCode ?? 502, { 'content-type': 'application/json' }).end(text);
          });
        },
      );
      up.on('error', () => res.writeHead(502).end());
      up.end(body);
    });
  }
}

/**
 * A TCP listener that only counts: the connections it accepted and the bytes it was sent. Where a
 * refused redirect points, or an address no SecretSync may use: it must see nothing at all.
 */
export class CountingListener {
  accepts = 0;
  bytes = 0;
  readonly url: string;
  private readonly sockets = new Set<Socket>();

  private constructor(private readonly server: NetServer) {
    this.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    server.on('connection', (socket: Socket) => {
      this.accepts += 1;
      this.sockets.add(socket);
      socket.on('data', (b: Buffer) => (this.bytes += b.length));
      socket.on('close', () => this.sockets.delete(socket));
    });
  }

  static async start(): Promise<CountingListener> {
    const server = createNetServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return new CountingListener(server);
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
