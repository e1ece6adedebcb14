/**
 * A real Kubernetes node on this machine, in the manner of Kubernetes' local-up-cluster: the test
 * environment's etcd, kube-apiserver and OpenBao (test/env/testenv.ts), plus containerd and runc
 * (Debian's), kube-controller-manager, kube-scheduler, kube-proxy (iptables) and a kubelet built from
 * the same k8s.io/kubernetes module, all as host processes. Pods are real: runc containers in their
 * own namespaces on a Linux bridge (CNI bridge + host-local), with projected ServiceAccount tokens
 * mounted by the kubelet and Services made by kube-proxy's iptables rules.
 *
 * Addresses: the bridge `vsync0` is the node, 10.244.0.1/24; pods get 10.244.0.2..254; Services
 * 10.96.0.0/24 (the `kubernetes` Service is 10.96.0.1, pointing at the apiserver on 10.244.0.1).
 * All of them are on this machine: the bridge and the pods' network namespaces are made here, and
 * Service addresses are only translated to pod addresses by this machine's own iptables rules.
 * One cluster per machine at a time (the bridge, the iptables chains and containerd's shim directory
 * are the machine's).
 *
 * Needs root and what test/cluster/prepare.sh installs and builds. docs/cluster-testing.md.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { stringify as toYaml } from 'yaml';
import { Fatal, waitFor } from '../env/http.js';
import { cacheDir } from '../env/paths.js';
import { freePort, Proc } from '../env/process.js';
import { TestEnv, type TestEnvOptions } from '../env/testenv.js';

const execFileP = promisify(execFile);

export const NODE_NAME = 'vaultsync-node';
export const BRIDGE = 'vsync0';
export const NODE_IP = '10.244.0.1';
export const POD_CIDR = '10.244.0.0/24';
export const KUBERNETES_SERVICE_IP = '10.96.0.1';
export const IMAGE = 'vaultsync.local/vaultsync:dev';
/** Debian + Node: also the consumer pods' image (it has a shell). */
export const BASE_IMAGE = 'vaultsync.local/node-base:24';
export const PAUSE_IMAGE = 'registry.k8s.io/pause:3.10';
const IMAGE_TARS = ['pause.tar', 'node-base.tar', 'vaultsync.tar'];

export interface NodeBinaries {
  kubelet: string;
  kubeControllerManager: string;
  kubeScheduler: string;
  kubeProxy: string;
}

/**
 * The node binaries that `test/env/build.sh --node` built: from the cache's env file, or else (an
 * older build.sh, run by another checkout, rewrote that file without them) from where build.sh puts
 * them, <cache>/bin/<name>-<version of kube-apiserver>/<name>.
 */
export function nodeBinaries(): NodeBinaries {
  const file = join(cacheDir(), 'testenv.env');
  const lines = existsSync(file) ? readFileSync(file, 'utf8').split('\n') : [];
  const value = (key: string) => lines.find((l) => l.startsWith(`${key}=`))?.slice(key.length + 1) ?? '';
  const version = /kube-apiserver-(v[^/]+)\//.exec(value('VAULTSYNC_KUBE_APISERVER_BIN'))?.[1] ?? '';
  const pick = (key: string, name: string): string => {
    const fromFile = value(key);
    const path = fromFile && existsSync(fromFile) ? fromFile : join(cacheDir(), 'bin', `${name}-${version}`, name);
    if (!version && !fromFile) throw new Error(`${key}: no test binaries are built; run bash test/cluster/prepare.sh`);
    if (!existsSync(path))
      throw new Error(`${name} is not built (${path}); run bash test/cluster/prepare.sh (test/env/build.sh --node)`);
    return path;
  };
  return {
    kubelet: pick('VAULTSYNC_KUBELET_BIN', 'kubelet'),
    kubeControllerManager: pick('VAULTSYNC_KUBE_CONTROLLER_MANAGER_BIN', 'kube-controller-manager'),
    kubeScheduler: pick('VAULTSYNC_KUBE_SCHEDULER_BIN', 'kube-scheduler'),
    kubeProxy: pick('VAULTSYNC_KUBE_PROXY_BIN', 'kube-proxy'),
  };
}

export function imagesDir(): string {
  return join(cacheDir(), 'cluster', 'images');
}

/**
 * What this machine lacks for a node, as readable sentences; empty when it has it all. The cluster
 * test fails with these (it never skips).
 */
export function missingPrerequisites(): string[] {
  const out: string[] = [];
  if (process.getuid?.() !== 0) out.push('not root: containerd, runc, the kubelet and kube-proxy need root');
  for (const [path, pkg] of [
    ['/usr/bin/containerd', 'containerd'],
    ['/usr/sbin/runc', 'runc'],
    ['/usr/lib/cni/bridge', 'containernetworking-plugins'],
    ['/usr/sbin/iptables', 'iptables'],
    ['/usr/sbin/ip', 'iproute2'],
  ] as const) {
    if (!existsSync(path)) out.push(`${path} is missing (Debian package ${pkg}; test/cluster/prepare.sh installs it)`);
  }
  for (const tar of IMAGE_TARS) {
    if (!existsSync(join(imagesDir(), tar)))
      out.push(`image ${join(imagesDir(), tar)} is missing (test/cluster/prepare.sh)`);
  }
  try {
    nodeBinaries();
  } catch (err) {
    out.push((err as Error).message);
  }
  if (!existsSync('/proc/sys/net/bridge/bridge-nf-call-iptables'))
    out.push('the kernel has no br_netfilter (/proc/sys/net/bridge missing): Services between pods would not work');
  return out;
}

async function run(
  cmd: string,
  args: string[],
  opts: { allowFail?: boolean; env?: NodeJS.ProcessEnv } = {},
): Promise<string> {
  try {
    const { stdout } = await execFileP(cmd, args, { maxBuffer: 64 * 1024 * 1024, env: opts.env ?? process.env });
    return stdout;
  } catch (err) {
    if (opts.allowFail) return '';
    const e = err as { stderr?: string; message: string };
    throw new Error(`${cmd} ${args.join(' ')} failed: ${e.stderr?.trim() || e.message}`);
  }
}

function sysctl(key: string, value: string): void {
  writeFileSync(`/proc/sys/${key.replaceAll('.', '/')}`, value);
}

/** One node per machine: the bridge, iptables chains and containerd's shim directory are shared. */
const LOCK = '/run/vaultsync-cluster.pid';

function takeLock(): void {
  if (existsSync(LOCK)) {
    const pid = Number(readFileSync(LOCK, 'utf8').trim());
    let alive = false;
    try {
      if (pid > 0) process.kill(pid, 0);
      alive = pid > 0;
    } catch {
      alive = false;
    }
    if (alive && pid !== process.pid)
      throw new Error(`another cluster test runs on this machine (pid ${pid}, ${LOCK}); one node at a time`);
  }
  writeFileSync(LOCK, `${process.pid}\n`);
}

function releaseLock(): void {
  if (existsSync(LOCK) && readFileSync(LOCK, 'utf8').trim() === String(process.pid)) rmSync(LOCK);
}

async function setupBridge(): Promise<void> {
  await run('ip', ['link', 'del', BRIDGE], { allowFail: true });
  await run('ip', ['link', 'add', BRIDGE, 'type', 'bridge']);
  await run('ip', ['addr', 'add', `${NODE_IP}/24`, 'dev', BRIDGE]);
  await run('ip', ['link', 'set', BRIDGE, 'up']);
  sysctl('net.ipv4.ip_forward', '1');
  // Pod -> Service -> pod on the same bridge: the reply must pass the host's conntrack to be un-NATed.
  sysctl('net.bridge.bridge-nf-call-iptables', '1');
}

export interface ClusterOptions {
  log?: (line: string) => void;
  keep?: boolean;
}

export class Cluster {
  readonly nodeBins = nodeBinaries();
  private readonly procs: Proc[] = [];
  private containerd: Proc | undefined;
  /** OpenBao's address as pods reach it (a second listener on the node's address). */
  vaultNodeAddr = '';
  ctrSocket = '';
  /** Seconds each phase of start() took. */
  readonly timings: Record<string, number> = {};

  private constructor(
    readonly env: TestEnv,
    private readonly opts: ClusterOptions,
  ) {}

  get dir(): string {
    return this.env.dir;
  }

  private get log(): (line: string) => void {
    return this.opts.log ?? (() => undefined);
  }

  static async start(opts: ClusterOptions = {}): Promise<Cluster> {
    const missing = missingPrerequisites();
    if (missing.length > 0) throw new Error(`this machine cannot run the node:\n- ${missing.join('\n- ')}`);
    const t0 = Date.now();
    takeLock();
    await setupBridge();
    const vaultNodePort = await freePort();
    let servingCert: string[] = [];
    const envOpts: TestEnvOptions = {
      keep: opts.keep,
      log: opts.log,
      // The chart installs the CRD from its template, as on a fresh cluster.
      crds: false,
      vaultHcl: `listener "tcp" {\n  address = "${NODE_IP}:${vaultNodePort}"\n  tls_disable = true\n}`,
      beforeApiserver: async (env) => {
        servingCert = await makeServingCert(env);
        return [];
      },
      apiserverArgs: (args) => [
        ...args
          .filter((a) => a !== '--disable-admission-plugins=ServiceAccount')
          .map((a) =>
            a.startsWith('--bind-address=')
              ? '--bind-address=0.0.0.0'
              : a.startsWith('--advertise-address=')
                ? `--advertise-address=${NODE_IP}`
                : a,
          ),
        // `kubectl logs` goes apiserver -> kubelet: by address, as the node's name resolves nowhere.
        '--kubelet-preferred-address-types=InternalIP',
        ...servingCert,
      ],
    };
    let env: TestEnv;
    try {
      env = await TestEnv.start(envOpts);
    } catch (err) {
      await run('ip', ['link', 'del', BRIDGE], { allowFail: true });
      releaseLock();
      throw err;
    }
    const c = new Cluster(env, opts);
    c.vaultNodeAddr = `http://${NODE_IP}:${vaultNodePort}`;
    c.timings.controlPlane = (Date.now() - t0) / 1000;
    try {
      await c.startNode();
    } catch (err) {
      await c.stop(true);
      throw err;
    }
    c.timings.total = (Date.now() - t0) / 1000;
    c.log(`cluster up in ${c.timings.total.toFixed(1)} s (${JSON.stringify(c.timings)})`);
    return c;
  }

  private phase = Date.now();
  private mark(name: string): void {
    this.timings[name] = (Date.now() - this.phase) / 1000;
    this.phase = Date.now();
  }

  private spawn(name: string, cmd: string, args: string[]): Proc {
    const p = new Proc(name, cmd, args, this.env.logDir);
    p.start();
    this.procs.push(p);
    return p;
  }

  private async startNode(): Promise<void> {
    this.phase = Date.now();
    const kubeconfig = this.env.adminKubeconfig;
    const pki = this.env.pkiFiles;

    // --- containerd: its own root, state, socket and CNI configuration ---------------------------
    const cd = join(this.dir, 'containerd');
    mkdirSync(join(cd, 'cni'), { recursive: true });
    this.ctrSocket = join(cd, 'containerd.sock');
    writeFileSync(
      join(cd, 'config.toml'),
      [
        'version = 2',
        `root = "${join(cd, 'root')}"`,
        `state = "${join(cd, 'state')}"`,
        '[grpc]',
        `  address = "${this.ctrSocket}"`,
        '[plugins."io.containerd.grpc.v1.cri"]',
        `  sandbox_image = "${PAUSE_IMAGE}"`,
        // Root here lacks CAP_SYS_RESOURCE, so no process may lower its oom_score_adj: without this
        // every sandbox fails ("runc create failed: ... can't get final child's PID from pipe: EOF",
        // runc writing -998). With it, containers keep containerd's score, as in rootless setups.
        '  restrict_oom_score_adj = true',
        '  [plugins."io.containerd.grpc.v1.cri".cni]',
        '    bin_dir = "/usr/lib/cni"',
        `    conf_dir = "${join(cd, 'cni')}"`,
        '  [plugins."io.containerd.grpc.v1.cri".containerd]',
        '    snapshotter = "overlayfs"',
        '',
      ].join('\n'),
    );
    writeFileSync(
      join(cd, 'cni', '10-vaultsync.conflist'),
      JSON.stringify({
        cniVersion: '1.0.0',
        name: 'vaultsync',
        plugins: [
          {
            type: 'bridge',
            bridge: BRIDGE,
            isGateway: true,
            ipMasq: false,
            hairpinMode: true,
            ipam: {
              type: 'host-local',
              dataDir: join(cd, 'ipam'),
              ranges: [[{ subnet: POD_CIDR, gateway: NODE_IP }]],
              routes: [{ dst: '0.0.0.0/0' }],
            },
          },
          { type: 'portmap', capabilities: { portMappings: true } },
        ],
      }),
    );
    this.containerd = this.spawn('containerd', '/usr/bin/containerd', ['--config', join(cd, 'config.toml')]);
    const ctrd = this.containerd;
    await waitFor('containerd', async () => {
      if (!ctrd.running) throw new Fatal(`containerd exited; see ${ctrd.logFile}`);
      return (await run('ctr', ['--address', this.ctrSocket, 'version'], { allowFail: true })).includes('Server');
    });
    for (const tar of IMAGE_TARS) await this.ctr('images', 'import', join(imagesDir(), tar));
    this.mark('containerd+images');

    // --- kube-controller-manager and kube-scheduler -------------------------------------------
    this.spawn('kube-controller-manager', this.nodeBins.kubeControllerManager, [
      `--kubeconfig=${kubeconfig}`,
      `--authentication-kubeconfig=${kubeconfig}`,
      `--authorization-kubeconfig=${kubeconfig}`,
      `--root-ca-file=${pki.caCert}`,
      '--leader-elect=false',
      '--bind-address=127.0.0.1',
      `--secure-port=${await freePort()}`,
      '--use-service-account-credentials=false',
      '--allocate-node-cidrs=false',
      `--service-cluster-ip-range=10.96.0.0/24`,
      '--v=1',
    ]);
    this.spawn('kube-scheduler', this.nodeBins.kubeScheduler, [
      `--kubeconfig=${kubeconfig}`,
      `--authentication-kubeconfig=${kubeconfig}`,
      `--authorization-kubeconfig=${kubeconfig}`,
      '--leader-elect=false',
      '--bind-address=127.0.0.1',
      `--secure-port=${await freePort()}`,
      '--v=1',
    ]);

    // --- kube-proxy (iptables) -----------------------------------------------------------------
    const proxyConfig = join(this.dir, 'kube-proxy.yaml');
    writeFileSync(
      proxyConfig,
      toYaml({
        apiVersion: 'kubeproxy.config.k8s.io/v1alpha1',
        kind: 'KubeProxyConfiguration',
        clientConnection: { kubeconfig },
        hostnameOverride: NODE_NAME,
        mode: 'iptables',
        clusterCIDR: POD_CIDR,
        healthzBindAddress: `127.0.0.1:${await freePort()}`,
        metricsBindAddress: `127.0.0.1:${await freePort()}`,
        // Leave the machine's conntrack limits and timeouts as they are.
        conntrack: { maxPerCore: 0, min: 0, tcpEstablishedTimeout: '0s', tcpCloseWaitTimeout: '0s' },
      }),
    );
    this.spawn('kube-proxy', this.nodeBins.kubeProxy, [`--config=${proxyConfig}`, '--v=1']);

    // --- kubelet -------------------------------------------------------------------------------
    const kubeletDir = join(this.dir, 'kubelet');
    mkdirSync(kubeletDir, { recursive: true });
    const kubeletConfig = join(this.dir, 'kubelet.yaml');
    writeFileSync(
      kubeletConfig,
      toYaml({
        apiVersion: 'kubelet.config.k8s.io/v1beta1',
        kind: 'KubeletConfiguration',
        // This machine mounts the cgroup v1 hierarchy; the kubelet refuses it unless told.
        failCgroupV1: false,
        cgroupDriver: 'cgroupfs',
        containerRuntimeEndpoint: `unix://${this.ctrSocket}`,
        address: NODE_IP,
        port: await freePort(),
        readOnlyPort: 0,
        healthzBindAddress: '127.0.0.1',
        healthzPort: await freePort(),
        // `kubectl logs` reaches the kubelet through the apiserver, which presents no client
        // certificate here; the kubelet listens on the node's bridge address only.
        authentication: {
          anonymous: { enabled: true },
          webhook: { enabled: false },
          x509: { clientCAFile: pki.caCert },
        },
        authorization: { mode: 'AlwaysAllow' },
        podCIDR: POD_CIDR,
        clusterDomain: 'cluster.local',
        resolvConf: '/etc/resolv.conf',
        failSwapOn: false,
        podLogsDir: join(this.dir, 'pod-logs'),
        // Other work shares this machine's disk and memory: evict nothing on their account.
        evictionHard: { 'memory.available': '100Mi', 'nodefs.available': '1%', 'imagefs.available': '1%' },
        imageGCHighThresholdPercent: 100,
        imageGCLowThresholdPercent: 99,
        serializeImagePulls: false,
        syncFrequency: '10s',
        fileCheckFrequency: '10s',
      }),
    );
    this.spawn('kubelet', this.nodeBins.kubelet, [
      `--config=${kubeletConfig}`,
      `--kubeconfig=${kubeconfig}`,
      `--root-dir=${kubeletDir}`,
      `--cert-dir=${join(this.dir, 'kubelet-pki')}`,
      `--hostname-override=${NODE_NAME}`,
      `--node-ip=${NODE_IP}`,
      '--v=1',
    ]);
    await waitFor(
      `node ${NODE_NAME} Ready`,
      async () => {
        for (const p of this.procs) {
          if (!p.running) throw new Fatal(`${p.name} exited (code ${p.exitCode}); see ${p.logFile}`);
        }
        const out = await this.kubectl(['get', 'node', NODE_NAME, '-o', 'json'], { allowFail: true });
        if (!out) return false;
        const node = JSON.parse(out) as { status?: { conditions?: { type: string; status: string }[] } };
        return node.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
      },
      180_000,
      1000,
    );
    this.mark('node Ready');
  }

  ctr(...args: string[]): Promise<string> {
    return run('ctr', ['--address', this.ctrSocket, '--namespace', 'k8s.io', ...args]);
  }

  /** kubectl as cluster admin. */
  async kubectl(args: string[], opts: { allowFail?: boolean; input?: string } = {}): Promise<string> {
    const all = [`--kubeconfig=${this.env.adminKubeconfig}`, ...args];
    if (opts.input === undefined) return run(this.env.bins.kubectl, all, opts);
    return new Promise((resolve, reject) => {
      const child = execFile(this.env.bins.kubectl, all, { maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
        if (err && !opts.allowFail)
          reject(new Error(`kubectl ${args.join(' ')} failed: ${stderr.trim() || err.message}`));
        else resolve(err ? '' : stdout);
      });
      child.stdin?.end(opts.input);
    });
  }

  async apply(obj: unknown): Promise<void> {
    await this.kubectl(['apply', '-f', '-'], { input: JSON.stringify(obj) });
  }

  /** helm as cluster admin, with its home, cache and config in the cluster's directory. */
  helm(args: string[]): Promise<string> {
    const home = join(this.dir, 'helm');
    const env = {
      PATH: process.env.PATH ?? '',
      HOME: home,
      HELM_CACHE_HOME: join(home, 'cache'),
      HELM_CONFIG_HOME: join(home, 'config'),
      HELM_DATA_HOME: join(home, 'data'),
    };
    return run(this.env.bins.helm, [`--kubeconfig=${this.env.adminKubeconfig}`, ...args], { env });
  }

  /**
   * Deletes the pods through the kubelet (so it tears down their containers and networks), then
   * stops the node's processes, removes what is left in containerd, kube-proxy's iptables rules, the
   * bridge and the kubelet's mounts, and stops the control plane.
   */
  async stop(failed = false): Promise<void> {
    const kubelet = this.procs.find((p) => p.name === 'kubelet');
    if (kubelet?.running) {
      await this.kubectl(['delete', 'deployments,replicasets,statefulsets,daemonsets', '--all', '-A', '--wait=false'], {
        allowFail: true,
      });
      await this.kubectl(['delete', 'pods', '--all', '-A', '--grace-period=1', '--timeout=60s'], { allowFail: true });
    }
    for (const p of [...this.procs].reverse()) if (p !== this.containerd) await p.stop();
    if (this.containerd?.running) {
      const tasks = (await this.ctr('tasks', 'ls', '-q').catch(() => '')).split('\n').filter(Boolean);
      for (const t of tasks) await this.ctr('tasks', 'kill', '-a', '-s', 'SIGKILL', t).catch(() => '');
      await new Promise((r) => setTimeout(r, 1000));
      for (const t of tasks) await this.ctr('tasks', 'delete', '-f', t).catch(() => '');
      const containers = (await this.ctr('containers', 'ls', '-q').catch(() => '')).split('\n').filter(Boolean);
      for (const c of containers) await this.ctr('containers', 'delete', c).catch(() => '');
      await this.containerd.stop();
    }
    await run(this.nodeBins.kubeProxy, ['--cleanup'], { allowFail: true });
    for (const table of ['nat', 'filter', 'mangle']) {
      await run('iptables', ['-t', table, '-X', 'KUBE-KUBELET-CANARY'], { allowFail: true });
      await run('ip6tables', ['-t', table, '-X', 'KUBE-KUBELET-CANARY'], { allowFail: true });
    }
    await this.unmountUnder(this.dir);
    await run('ip', ['link', 'del', BRIDGE], { allowFail: true });
    await this.env.stop(failed);
    releaseLock();
  }

  private async unmountUnder(dir: string): Promise<void> {
    const mounts = readFileSync('/proc/self/mounts', 'utf8')
      .split('\n')
      .map((l) => l.split(' ')[1] ?? '')
      .filter((m) => m.startsWith(`${dir}/`))
      .sort((a, b) => b.length - a.length);
    for (const m of mounts) await run('umount', ['-l', m], { allowFail: true });
  }
}

/**
 * A serving certificate for the apiserver, from the environment's CA, valid for the addresses pods
 * use: the `kubernetes` Service (10.96.0.1) and its names, the node address, and loopback.
 */
async function makeServingCert(env: TestEnv): Promise<string[]> {
  const pki = env.pkiFiles;
  const key = join(pki.dir, 'node-serving.key');
  const csr = join(pki.dir, 'node-serving.csr');
  const crt = join(pki.dir, 'node-serving.crt');
  const ext = join(pki.dir, 'node-serving.ext');
  writeFileSync(
    ext,
    [
      'basicConstraints=CA:FALSE',
      'keyUsage=critical,digitalSignature,keyEncipherment',
      'extendedKeyUsage=serverAuth',
      `subjectAltName=IP:127.0.0.1,IP:${NODE_IP},IP:${KUBERNETES_SERVICE_IP},DNS:localhost,DNS:kubernetes,` +
        'DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local',
      '',
    ].join('\n'),
  );
  await run('openssl', [
    'req',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-keyout',
    key,
    '-out',
    csr,
    '-subj',
    '/CN=kube-apiserver',
  ]);
  await run('openssl', [
    'x509',
    '-req',
    '-in',
    csr,
    '-CA',
    pki.caCert,
    '-CAkey',
    pki.caKey,
    '-CAcreateserial',
    '-days',
    '2',
    '-out',
    crt,
    '-extfile',
    ext,
  ]);
  return [`--tls-cert-file=${crt}`, `--tls-private-key-file=${key}`];
}
