/**
 * `npx tsx bench/client-node-tls.ts [default|shared] [requests]`: how many TLS connections
 * @kubernetes/client-node opens for N sequential-ish requests (16 in flight) against a local HTTPS
 * server, with its default wiring (KubeConfig.makeApiClient) or with one shared undici Agent set by a
 * wrapping auth method. Run each mode in its own process: it prints connections, requests per second,
 * CPU per request and the process's RSS. Referenced from docs/benchmarks.md ("What limits it").
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CoreV1Api,
  KubeConfig,
  ServerConfiguration,
  V1ObjectMeta,
  V1Secret,
  createConfiguration,
  type RequestContext,
} from '@kubernetes/client-node';
import { Agent } from 'undici';
import { makePki } from '../test/env/pki.js';

const mode = process.argv[2] === 'shared' ? 'shared' : 'default';
const total = Number(process.argv[3] ?? 20_000);
const dir = mkdtempSync(join(tmpdir(), 'client-node-tls-'));
const pki = makePki(dir);
let connections = 0;
const server = createServer({ cert: readFileSync(pki.serverCert), key: readFileSync(pki.serverKey) }, (req, res) => {
  req.resume();
  req.on('end', () => {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'x', namespace: 'n' } }));
  });
});
server.on('secureConnection', () => connections++);
await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
const address = server.address();
const url = `https://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;

const kc = new KubeConfig();
kc.loadFromOptions({
  clusters: [{ name: 'c', server: url, caData: Buffer.from(pki.caPem).toString('base64'), skipTLSVerify: false }],
  users: [{ name: 'u', token: 'not-a-secret' }],
  contexts: [{ name: 'c', cluster: 'c', user: 'u' }],
  currentContext: 'c',
});
let api: CoreV1Api;
if (mode === 'shared') {
  // KubeConfig sets a new undici Agent on every request; replace it with one long-lived Agent.
  const agent = new Agent({ connect: { ca: pki.caPem }, connections: 32 });
  const auth = {
    getName: () => 'kubeconfig with a shared dispatcher',
    applySecurityAuthentication: async (ctx: RequestContext) => {
      await kc.applySecurityAuthentication(ctx);
      ctx.setDispatcher(agent);
    },
  };
  api = new CoreV1Api(
    createConfiguration({ baseServer: new ServerConfiguration(url, {}), authMethods: { default: auth } }),
  );
} else {
  api = kc.makeApiClient(CoreV1Api);
}

const body = new V1Secret();
body.metadata = new V1ObjectMeta();
body.metadata.name = 'x';
body.data = { A: 'eHh4' };
const cpu0 = process.cpuUsage();
const t0 = performance.now();
let next = 0;
await Promise.all(
  Array.from({ length: 16 }, async () => {
    while (next < total) {
      next++;
      await api.createNamespacedSecret({ namespace: 'n', body });
    }
  }),
);
const seconds = (performance.now() - t0) / 1000;
const cpu = process.cpuUsage(cpu0);
await new Promise((r) => setTimeout(r, 6000)); // idle keep-alive sockets close
const rss = process.memoryUsage().rss / 2 ** 20;
process.stdout.write(
  `${mode}: ${total} requests, ${connections} TLS connections, ${(total / seconds).toFixed(0)} req/s, ` +
    `${((cpu.user + cpu.system) / 1000 / total).toFixed(2)} ms CPU per request (client and server, one process), ` +
    `RSS ${rss.toFixed(0)} MiB\n`,
);
server.closeAllConnections();
server.close();
rmSync(dir, { recursive: true, force: true });
process.exit(0);
