/**
 * "The one address" in front of a Vault HA cluster: a TCP proxy on loopback that hands each new
 * client connection to the next upstream in turn (round-robin), as a layer-4 load balancer without
 * health checks does, so standbys get their share of requests. An upstream that refuses the
 * connection (a killed node) is skipped for that connection; when all refuse, the client's
 * connection is closed. Bytes pass unchanged (no HTTP parsing), so whatever a node answers — a
 * forwarded 200, a 307 to the active node, a 503 — is what the client sees. When an upstream dies,
 * the client connections it carried are closed, as a real load balancer would do.
 *
 * It also stands in for a Kubernetes Service in front of several controller replicas
 * (test/e2e/webhook-service.test.ts): kube-proxy spreads connections the same way, and
 * setUpstreams() plays the endpoints changing as pods come and go.
 */
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';

export interface TcpUpstream {
  host: string;
  port: number;
}

export interface TcpProxyCounts {
  /** Client connections handed to each upstream, by `host:port`. */
  connections: Record<string, number>;
  /** Connection attempts an upstream refused (the proxy then tried the next one). */
  refused: number;
  /** Client connections closed because no upstream took them. */
  dropped: number;
}

export class TcpProxy {
  readonly url: string;
  private next = 0;
  private counts: TcpProxyCounts = { connections: {}, refused: 0, dropped: 0 };
  private readonly sockets = new Set<Socket>();

  private constructor(
    private readonly server: Server,
    private upstreams: readonly TcpUpstream[],
  ) {
    const { port } = server.address() as AddressInfo;
    this.url = `http://127.0.0.1:${port}`;
  }

  /** Listens on 127.0.0.1 (a free port); `upstreams` in the order round-robin visits them. */
  static async start(upstreams: readonly TcpUpstream[]): Promise<TcpProxy> {
    if (upstreams.length === 0) throw new Error('TcpProxy: no upstreams');
    const server = createServer({ pauseOnConnect: true });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const proxy = new TcpProxy(server, upstreams);
    server.on('connection', (client: Socket) => {
      proxy.accept(client);
    });
    return proxy;
  }

  /** Replaces the upstreams (endpoints changed); connections already made stay where they are. */
  setUpstreams(upstreams: readonly TcpUpstream[]): void {
    if (upstreams.length === 0) throw new Error('TcpProxy: no upstreams');
    this.upstreams = upstreams;
    this.next %= upstreams.length;
  }

  /** Counts since the last call (a window). */
  takeCounts(): TcpProxyCounts {
    const c = this.counts;
    this.counts = { connections: {}, refused: 0, dropped: 0 };
    return c;
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private track(s: Socket): void {
    this.sockets.add(s);
    s.on('close', () => this.sockets.delete(s));
  }

  private accept(client: Socket): void {
    this.track(client);
    client.on('error', () => client.destroy());
    // The client stays paused (pauseOnConnect) until an upstream takes it, so no byte is lost.
    const first = this.next;
    this.next = (this.next + 1) % this.upstreams.length;
    this.dial(client, first, 0);
  }

  private dial(client: Socket, index: number, tried: number): void {
    if (client.destroyed) return;
    if (tried === this.upstreams.length) {
      this.counts.dropped++;
      client.destroy();
      return;
    }
    const target = this.upstreams[index % this.upstreams.length]!;
    const upstream = connect({ host: target.host, port: target.port });
    this.track(upstream);
    let connected = false;
    upstream.once('connect', () => {
      connected = true;
      const key = `${target.host}:${target.port}`;
      this.counts.connections[key] = (this.counts.connections[key] ?? 0) + 1;
      client.pipe(upstream);
      upstream.pipe(client);
      client.resume();
    });
    upstream.on('error', () => {
      if (connected) return; // 'close' below ends the client too
      this.counts.refused++;
      this.dial(client, index + 1, tried + 1);
    });
    upstream.on('close', () => {
      if (connected) client.destroy();
    });
    client.on('close', () => upstream.destroy());
  }
}
