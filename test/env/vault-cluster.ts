/**
 * OpenBao as a Raft HA cluster on loopback: `size` (3) `bao server` processes with integrated
 * storage, each with its own data directory and API/cluster ports. Node 1 is initialised (Shamir,
 * one share) and unsealed; the others join it (`sys/storage/raft/join`) and are unsealed with the
 * same key, and autopilot makes them voters. Put test/env/tcp-proxy.ts in front for the one address
 * clients use, and hand that to TestEnv.attachVault() for KV v2 and Kubernetes auth.
 *
 * Raft timing is OpenBao's default (performance_multiplier 5): a killed active node is replaced
 * after about 10 s. `performanceMultiplier: 1` is the faster setting.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { call, Fatal, must, waitFor, type Endpoint } from './http.js';
import { freePort, Proc } from './process.js';

export interface VaultClusterOptions {
  /** The `bao` binary (TestEnv.bins.vault). */
  bin: string;
  /** Data directories and configuration go below it (e.g. TestEnv.dir). */
  dir: string;
  /** Each node logs to `<logDir>/vault-n<i>.log`. */
  logDir: string;
  size?: number;
  performanceMultiplier?: number;
}

export interface VaultNode {
  /** Raft node id: n1, n2, … */
  readonly id: string;
  /** The node's own API address (its api_addr), e.g. http://127.0.0.1:8200. */
  readonly addr: string;
  readonly apiPort: number;
  readonly proc: Proc;
}

interface AutopilotState {
  healthy: boolean;
  leader: string;
  servers: Record<string, { healthy: boolean; node_type: string; status: string }>;
}

export class VaultCluster {
  rootToken = '';
  private unsealKey = '';

  private constructor(readonly nodes: readonly VaultNode[]) {}

  static async start(opts: VaultClusterOptions): Promise<VaultCluster> {
    const nodes: VaultNode[] = [];
    for (let i = 1; i <= (opts.size ?? 3); i++) {
      const id = `n${i}`;
      const apiPort = await freePort();
      const clusterPort = await freePort();
      const data = join(opts.dir, `vault-${id}`);
      mkdirSync(data, { recursive: true });
      const multiplier = opts.performanceMultiplier ? `\n  performance_multiplier = ${opts.performanceMultiplier}` : '';
      const hcl = [
        `storage "raft" {\n  path = "${data}"\n  node_id = "${id}"${multiplier}\n}`,
        `listener "tcp" {\n  address = "127.0.0.1:${apiPort}"\n  cluster_address = "127.0.0.1:${clusterPort}"\n  tls_disable = true\n}`,
        'disable_mlock = true',
        `api_addr = "http://127.0.0.1:${apiPort}"`,
        `cluster_addr = "http://127.0.0.1:${clusterPort}"`,
        'log_level = "info"',
      ].join('\n');
      const config = join(opts.dir, `vault-${id}.hcl`);
      writeFileSync(config, hcl);
      const proc = new Proc(`vault-${id}`, opts.bin, ['server', `-config=${config}`], opts.logDir, {
        PATH: process.env.PATH ?? '',
        HOME: process.env.HOME ?? '/tmp',
      });
      nodes.push({ id, addr: `http://127.0.0.1:${apiPort}`, apiPort, proc });
    }
    const cluster = new VaultCluster(nodes);
    try {
      await cluster.bootstrap();
    } catch (err) {
      await cluster.stop();
      throw err;
    }
    return cluster;
  }

  private async bootstrap(): Promise<void> {
    const [first, ...rest] = this.nodes;
    if (!first) throw new Error('VaultCluster: size must be at least 1');
    for (const n of this.nodes) n.proc.start();
    await this.waitListening(first);
    const init = await must<{ keys_base64: string[]; root_token: string }>({ url: first.addr }, 'PUT', '/v1/sys/init', {
      secret_shares: 1,
      secret_threshold: 1,
    });
    this.unsealKey = init.body.keys_base64[0] ?? '';
    this.rootToken = init.body.root_token;
    await this.unseal(first);
    await waitFor(
      `${first.id} active`,
      async () => (await call({ url: first.addr }, 'GET', '/v1/sys/health')).status === 200,
    );
    // A standby counts as stable after server_stabilization_time (10 s by default) before autopilot
    // promotes it to voter; 2 s is enough on loopback.
    await must(this.endpoint(first), 'POST', '/v1/sys/storage/raft/autopilot/configuration', {
      server_stabilization_time: '2s',
    });
    for (const n of rest) {
      await this.waitListening(n);
      await must({ url: n.addr }, 'PUT', '/v1/sys/storage/raft/join', { leader_api_addr: first.addr });
      await this.unseal(n);
    }
    await this.waitHealthy();
  }

  /** The root-token endpoint of one node (its own address, not the proxy). */
  endpoint(node: VaultNode): Endpoint {
    return { url: node.addr, headers: { 'x-vault-token': this.rootToken } };
  }

  /** The node that says it is active (`sys/leader` is_self); throws when none does. */
  async leader(): Promise<VaultNode> {
    for (const n of this.nodes) {
      if (!n.proc.running) continue;
      const r = await call<{ is_self?: boolean }>({ url: n.addr }, 'GET', '/v1/sys/leader').catch(() => undefined);
      if (r?.status === 200 && r.body.is_self === true) return n;
    }
    throw new Error('no OpenBao node is active');
  }

  /** Waits for a running node to become active and finish its post-unseal setup (`sys/health` 200). */
  async waitLeader(timeoutMs = 60_000): Promise<VaultNode> {
    return waitFor(
      'an active OpenBao node',
      async () => {
        const n = await this.leader();
        return (await call({ url: n.addr }, 'GET', '/v1/sys/health')).status === 200 ? n : undefined;
      },
      timeoutMs,
      100,
    );
  }

  /** SIGKILL: no step-down, no flush; the node keeps its Raft membership and its data. */
  async kill(node: VaultNode): Promise<void> {
    await node.proc.kill();
  }

  /** Starts a stopped node on its data and ports again, unseals it and waits for the cluster to be whole. */
  async restart(node: VaultNode, timeoutMs = 60_000): Promise<void> {
    if (node.proc.running) throw new Error(`${node.id} is running`);
    node.proc.start();
    await this.waitListening(node);
    await this.unseal(node);
    await this.waitHealthy(timeoutMs);
  }

  /**
   * Every node running, unsealed and a healthy voter in autopilot's view, one leader, and each
   * standby naming it and able to forward (an authenticated read on each node answers 200).
   */
  async waitHealthy(timeoutMs = 60_000): Promise<void> {
    let last = '';
    await waitFor(
      `OpenBao cluster of ${this.nodes.length} healthy`,
      async () => {
        const leader = await this.leader();
        const r = await call<{ data?: AutopilotState }>(
          this.endpoint(leader),
          'GET',
          '/v1/sys/storage/raft/autopilot/state',
        );
        const s = r.body.data;
        last = JSON.stringify(s?.servers ?? r.text);
        const voters = Object.values(s?.servers ?? {}).filter((v) => v.healthy && v.node_type === 'voter');
        if (!s?.healthy || voters.length !== this.nodes.length) return false;
        for (const n of this.nodes) {
          const l = await call<{ leader_address?: string }>({ url: n.addr }, 'GET', '/v1/sys/leader');
          if (l.body.leader_address !== leader.addr) return false;
          if ((await call(this.endpoint(n), 'GET', '/v1/sys/mounts')).status !== 200) return false;
        }
        return true;
      },
      timeoutMs,
      250,
    ).catch((err: unknown) => {
      throw new Error(`${(err as Error).message}; autopilot servers: ${last}`);
    });
  }

  async stop(): Promise<void> {
    for (const n of this.nodes) await n.proc.stop();
  }

  private async waitListening(node: VaultNode): Promise<void> {
    await waitFor(`${node.id} listening`, async () => {
      if (!node.proc.running) throw new Fatal(`${node.id} exited; see ${node.proc.logFile}`);
      return (await call({ url: node.addr }, 'GET', '/v1/sys/seal-status')).status === 200;
    });
  }

  /** A joining node stays sealed until it has fetched the keyring from the leader, so wait for that too. */
  private async unseal(node: VaultNode): Promise<void> {
    await must({ url: node.addr }, 'PUT', '/v1/sys/unseal', { key: this.unsealKey });
    await waitFor(`${node.id} unsealed`, async () => {
      const r = await call<{ sealed?: boolean }>({ url: node.addr }, 'GET', '/v1/sys/seal-status');
      return r.body.sealed === false;
    });
  }
}
