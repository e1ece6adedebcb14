/**
 * A TLS-terminating HTTP proxy in front of the kube-apiserver that can be told to answer every
 * request with an error for a while (429 Too Many Requests, 500 Internal Server Error), the way an
 * overloaded or failing control plane does. In `pass` mode it forwards each request unchanged
 * (bearer token included) and streams the answer back, watches included. Switching to an error
 * mode cuts the open streams, so watches must come back through the failing proxy.
 */
import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, request, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';

export type ProxyMode = 'pass' | 429 | 500;

export interface ProxyCounts {
  /** Requests answered with an injected error. */
  injected: number;
  /** Requests forwarded to the apiserver. */
  forwarded: number;
  /** Forwarded requests by `VERB resource` (e.g. `GET secretsyncs`, `WATCH secrets`). */
  byKind: Record<string, number>;
}

const REASONS: Record<number, string> = { 429: 'TooManyRequests', 500: 'InternalError' };

export class FaultProxy {
  readonly url: string;
  mode: ProxyMode = 'pass';
  private counts: ProxyCounts = { injected: 0, forwarded: 0, byKind: {} };
  /** Client responses still streaming (watches): cut when an error mode begins. */
  private readonly open = new Set<ServerResponse>();

  private constructor(
    private readonly server: Server,
    private readonly upstream: URL,
    private readonly ca: string,
  ) {
    const { port } = server.address() as AddressInfo;
    this.url = `https://127.0.0.1:${port}`;
  }

  /** Listens on 127.0.0.1 with the apiserver's own serving certificate, so clients trust it as they trust the apiserver. */
  static async start(opts: {
    upstream: string;
    caPem: string;
    certFile: string;
    keyFile: string;
  }): Promise<FaultProxy> {
    const server = createServer({ cert: readFileSync(opts.certFile), key: readFileSync(opts.keyFile) });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const proxy = new FaultProxy(server, new URL(opts.upstream), opts.caPem);
    server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      proxy.handle(req, res);
    });
    return proxy;
  }

  /** Switches mode; an error mode also cuts every open stream (watches) at once. */
  setMode(mode: ProxyMode): void {
    this.mode = mode;
    if (mode !== 'pass') for (const r of this.open) r.destroy();
  }

  /** Counts since the last call (a window). */
  takeCounts(): ProxyCounts {
    const c = this.counts;
    this.counts = { injected: 0, forwarded: 0, byKind: {} };
    return c;
  }

  async close(): Promise<void> {
    for (const r of this.open) r.destroy();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const mode = this.mode;
    if (mode !== 'pass') {
      this.counts.injected++;
      req.resume();
      const body = JSON.stringify({
        kind: 'Status',
        apiVersion: 'v1',
        metadata: {},
        status: 'Failure',
        message: `injected ${mode} by the test's fault proxy`,
        reason: REASONS[mode],
        code: mode,
      });
      res.writeHead(mode, {
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(body),
        ...(mode === 429 ? { 'retry-after': '1' } : {}),
      });
      res.end(body);
      return;
    }
    this.counts.forwarded++;
    const kind = describe(req);
    this.counts.byKind[kind] = (this.counts.byKind[kind] ?? 0) + 1;
    const headers = { ...req.headers, host: this.upstream.host };
    const up = request(
      {
        protocol: 'https:',
        hostname: this.upstream.hostname,
        port: this.upstream.port,
        method: req.method,
        path: req.url,
        headers,
        ca: this.ca,
      },
      (upRes) => {
        res.writeHead(upRes.statusCode ?? 502, upRes.headers);
        upRes.pipe(res);
        upRes.on('error', () => res.destroy());
      },
    );
    this.open.add(res);
    up.on('error', () => {
      if (!res.headersSent) res.writeHead(502).end();
      else res.destroy();
    });
    res.on('close', () => {
      this.open.delete(res);
      up.destroy();
    });
    req.pipe(up);
  }
}

/** `GET secretsyncs`, `WATCH secrets`, `PATCH secretsyncs/status`: enough to see what was retried. */
function describe(req: IncomingMessage): string {
  const url = new URL(req.url ?? '/', 'https://x');
  const parts = url.pathname.split('/').filter(Boolean);
  const i = parts.indexOf('namespaces');
  // /api/v1/[namespaces/ns/]secrets[/name[/sub]] and /apis/g/v/[namespaces/ns/]res[/name[/sub]]
  const rest = i >= 0 ? parts.slice(i + 2) : parts.slice(parts[0] === 'api' ? 2 : 3);
  const resource = rest[0] ?? url.pathname;
  const sub = rest[2] === undefined ? '' : `/${rest[2]}`;
  const verb = url.searchParams.get('watch') === 'true' ? 'WATCH' : (req.method ?? 'GET');
  return `${verb} ${resource}${sub}`;
}
