import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { RestConfig } from '../kubeconfig.js';

/**
 * A loopback HTTP server speaking just enough of the Kubernetes API for unit tests of src/kube:
 * routes answer JSON, watches stream newline-delimited events under the test's control, and
 * every request is recorded (method, path, query, headers, body) for assertions.
 */

export interface Recorded {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
  body: string;
}

export type Handler = (req: Recorded, res: ServerResponse) => void;

export interface OpenWatch {
  path: string;
  query: URLSearchParams;
  send(type: string, object: unknown): void;
  /** Writes bytes as they are (partial lines, garbage). */
  raw(text: string): void;
  end(): void;
  /** Resolves when the connection closes (either side). */
  closed: Promise<void>;
}

interface Route {
  method: string;
  path: string | RegExp;
  handler: Handler;
}

export class FakeApiServer {
  readonly requests: Recorded[] = [];
  private readonly routes: Route[] = [];
  private readonly watches: OpenWatch[] = [];
  private readonly watchWaiters: ((w: OpenWatch) => void)[] = [];
  private readonly watchFailures: number[] = [];

  private constructor(
    readonly server: Server,
    readonly url: string,
  ) {}

  static async start(): Promise<FakeApiServer> {
    const holder: { fake?: FakeApiServer } = {};
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const url = new URL(req.url ?? '/', 'http://fake');
        holder.fake?.handle(
          {
            method: req.method ?? 'GET',
            path: url.pathname,
            query: url.searchParams,
            headers: req.headers,
            body: Buffer.concat(chunks).toString('utf8'),
          },
          res,
        );
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    const fake = new FakeApiServer(server, `http://127.0.0.1:${port}`);
    holder.fake = fake;
    return fake;
  }

  /** Answers `method path`; a later route for the same request wins over an earlier one. */
  route(method: string, path: string | RegExp, handler: Handler): void {
    this.routes.unshift({ method, path, handler });
  }

  /** Requests received for `method path` (watches included, marked by query watch=true). */
  received(method: string, path: string | RegExp): Recorded[] {
    return this.requests.filter((r) => r.method === method && matches(path, r.path));
  }

  /** The next watch request to arrive (already open ones first, in order). */
  nextWatch(timeoutMs = 5_000): Promise<OpenWatch> {
    const open = this.watches.shift();
    if (open !== undefined) return Promise.resolve(open);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new Error(`no watch request within ${timeoutMs} ms`));
      }, timeoutMs);
      this.watchWaiters.push((w) => {
        clearTimeout(timer);
        resolve(w);
      });
    });
  }

  /** Answers the next watch request with this HTTP status instead of a stream. */
  failNextWatch(code: number): void {
    this.watchFailures.push(code);
  }

  kubeConfig(token = 'test-token'): RestConfig {
    return RestConfig.fromServer(this.url, { token, insecure: true });
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => {
      this.server.close(() => {
        resolve();
      });
    });
  }

  private handle(req: Recorded, res: ServerResponse): void {
    this.requests.push(req);
    if (req.method === 'GET' && req.query.get('watch') === 'true') {
      const failure = this.watchFailures.shift();
      if (failure !== undefined) sendStatus(res, failure, 'Failure', `watch failed with ${failure}`);
      else this.openWatch(req, res);
      return;
    }
    const route = this.routes.find((r) => r.method === req.method && matches(r.path, req.path));
    if (route === undefined) {
      sendStatus(res, 404, 'NotFound', `no fake route for ${req.method} ${req.path}`);
      return;
    }
    route.handler(req, res);
  }

  private openWatch(req: Recorded, res: ServerResponse): void {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.flushHeaders();
    const w: OpenWatch = {
      path: req.path,
      query: req.query,
      send: (type, object) => {
        res.write(`${JSON.stringify({ type, object })}\n`);
      },
      raw: (text) => {
        res.write(text);
      },
      end: () => {
        res.end();
      },
      closed: new Promise((resolve) => {
        res.on('close', resolve);
      }),
    };
    const waiter = this.watchWaiters.shift();
    if (waiter === undefined) this.watches.push(w);
    else waiter(w);
  }
}

function matches(pattern: string | RegExp, path: string): boolean {
  return typeof pattern === 'string' ? pattern === path : pattern.test(path);
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

/** A Kubernetes Status object, as the API server answers errors. */
export function sendStatus(res: ServerResponse, code: number, reason: string, message: string): void {
  sendJson(res, code, { kind: 'Status', apiVersion: 'v1', status: 'Failure', message, reason, code });
}

export function listBody(resourceVersion: string, items: unknown[], continueToken?: string): unknown {
  return { kind: 'List', apiVersion: 'v1', metadata: { resourceVersion, continue: continueToken }, items };
}
