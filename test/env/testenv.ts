/**
 * An envtest-style environment of real parts on loopback: etcd, kube-apiserver (TLS, RBAC,
 * ServiceAccount token signing) and an OpenBao server whose Kubernetes auth method calls this
 * apiserver's TokenReview. Nothing here is a mock. Used by test/e2e, `npm run demo` and bench/.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { stringify as toYaml, parseAllDocuments } from 'yaml';
import { call, Fatal, must, waitFor, type Endpoint } from './http.js';
import { findBinaries, type Binaries } from './paths.js';
import { makePki, type Pki } from './pki.js';
import { freePort, Proc } from './process.js';

export const REPO = resolve(import.meta.dirname, '../..');
export const VAULT_AUDIENCE = 'vault';
export const ISSUER = 'https://kubernetes.default.svc.cluster.local';
export const CONTROLLER_NAMESPACE = 'vaultsync-system';
export const CONTROLLER_SA = 'vaultsync';

/**
 * The verbs the controller calls, and no more. The Helm chart grants the same: the first six in its
 * ClusterRole (charts/vaultsync/files/clusterrole-rules.yaml), leases in a Role in the controller
 * namespace; scripts/chart.test.ts fails when they differ.
 */
export const CONTROLLER_RULES = [
  { apiGroups: ['vaultsync.io'], resources: ['secretsyncs'], verbs: ['list', 'watch'] },
  { apiGroups: ['vaultsync.io'], resources: ['secretsyncs/status'], verbs: ['patch'] },
  { apiGroups: [''], resources: ['secrets'], verbs: ['get', 'list', 'watch', 'create', 'update', 'delete'] },
  { apiGroups: [''], resources: ['serviceaccounts/token'], verbs: ['create'] },
  { apiGroups: [''], resources: ['events'], verbs: ['create', 'patch'] },
  { apiGroups: ['apps'], resources: ['deployments', 'statefulsets', 'daemonsets'], verbs: ['patch'] },
  { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['get', 'create', 'update'] },
];

export interface TestEnvOptions {
  /** Keep the working directory (logs, kubeconfigs) after stop, e.g. for the demo or a failed test. */
  keep?: boolean;
  log?: (line: string) => void;
  /**
   * Extra HCL appended to OpenBao's server configuration, e.g. a `telemetry` block or a
   * declarative `audit "file" ...` device (bench/ counts Vault requests with these).
   */
  vaultHcl?: string;
  /**
   * Runs once etcd and OpenBao are up, before kube-apiserver starts, and returns extra apiserver
   * flags: e.g. a KMS plugin backed by OpenBao's Transit and `--encryption-provider-config`.
   */
  beforeApiserver?: (env: TestEnv) => Promise<string[]>;
  /**
   * `false`: start no OpenBao of its own; the test attaches one with attachVault() (e.g. the Raft
   * cluster of test/env/vault-cluster.ts behind its proxy). Default true.
   */
  vault?: boolean;
  /**
   * `false`: do not create the SecretSync CRD from crds/, e.g. for a Helm release that installs it
   * from the chart's template (test/e2e/chart.test.ts). Default true.
   */
  crds?: boolean;
  /**
   * Rewrites kube-apiserver's whole argument list before it starts (after beforeApiserver's flags
   * are appended): test/cluster turns the ServiceAccount admission plugin back on and serves on the
   * node's address, which flags appended later cannot undo.
   */
  apiserverArgs?: (args: string[]) => string[];
}

export class TestEnv {
  readonly bins: Binaries;
  readonly dir: string;
  readonly logDir: string;
  private pki!: Pki;
  // Undefined until started, so stop() after a failed start only stops what runs.
  private etcd: Proc | undefined;
  private apiserver: Proc | undefined;
  private vaultProc: Proc | undefined;
  private readonly controllers: Proc[] = [];
  apiUrl = '';
  vaultAddr = '';
  /** Admin endpoint (client certificate in system:masters). */
  kube!: Endpoint;
  /** Vault endpoint with the root token. */
  vault!: Endpoint;
  adminKubeconfig = '';
  controllerKubeconfig = '';
  /** The controller's own projected-style token (audience vault), for --token-path. */
  controllerVaultTokenFile = '';
  private unsealKey = '';
  rootToken = '';
  private readonly log: (line: string) => void;

  private constructor(private readonly opts: TestEnvOptions) {
    this.bins = findBinaries();
    this.dir = mkdtempSync(join(tmpdir(), 'vaultsync-env-'));
    this.logDir = join(this.dir, 'logs');
    mkdirSync(this.logDir);
    this.log = opts.log ?? (() => undefined);
  }

  static async start(opts: TestEnvOptions = {}): Promise<TestEnv> {
    const env = new TestEnv(opts);
    try {
      const t0 = Date.now();
      env.pki = makePki(env.dir);
      await env.startEtcd();
      // OpenBao needs nothing from the apiserver until its Kubernetes auth is configured below.
      if (opts.vault !== false) await env.startVault(true);
      await env.startApiserver((await opts.beforeApiserver?.(env)) ?? []);
      if (opts.crds !== false) await env.applyCrds();
      await env.setupController();
      if (opts.vault !== false) await env.setupVaultKubernetesAuth();
      env.log(`test environment up in ${Date.now() - t0} ms (${env.dir})`);
      return env;
    } catch (err) {
      await env.stop(true);
      throw err;
    }
  }

  private async startEtcd(): Promise<void> {
    const client = await freePort();
    const peer = await freePort();
    this.etcd = new Proc(
      'etcd',
      this.bins.etcd,
      [
        `--data-dir=${join(this.dir, 'etcd')}`,
        `--listen-client-urls=http://127.0.0.1:${client}`,
        `--advertise-client-urls=http://127.0.0.1:${client}`,
        `--listen-peer-urls=http://127.0.0.1:${peer}`,
        `--initial-advertise-peer-urls=http://127.0.0.1:${peer}`,
        `--initial-cluster=default=http://127.0.0.1:${peer}`,
        '--unsafe-no-fsync',
        '--log-level=warn',
      ],
      this.logDir,
    );
    this.etcd.start();
    const ep = { url: `http://127.0.0.1:${client}` };
    await waitFor('etcd health', async () => (await call(ep, 'GET', '/health')).status === 200, 30_000);
    this.etcdUrl = ep.url;
  }

  private etcdUrl = '';

  /** etcd's client URL: its v3 JSON gateway (POST /v3/kv/range) shows what the apiserver stored. */
  get etcdClientUrl(): string {
    return this.etcdUrl;
  }
  private apiserverArgs: string[] = [];

  private async startApiserver(extraArgs: string[]): Promise<void> {
    const port = await freePort();
    this.apiUrl = `https://127.0.0.1:${port}`;
    this.apiserverArgs = [
      `--etcd-servers=${this.etcdUrl}`,
      '--bind-address=127.0.0.1',
      '--advertise-address=127.0.0.1',
      `--secure-port=${port}`,
      `--cert-dir=${join(this.dir, 'apiserver-certs')}`,
      `--tls-cert-file=${this.pki.serverCert}`,
      `--tls-private-key-file=${this.pki.serverKey}`,
      `--client-ca-file=${this.pki.caCert}`,
      `--service-account-issuer=${ISSUER}`,
      `--service-account-key-file=${this.pki.saPub}`,
      `--service-account-signing-key-file=${this.pki.saKey}`,
      `--api-audiences=${ISSUER},${VAULT_AUDIENCE}`,
      '--authorization-mode=RBAC',
      '--disable-admission-plugins=ServiceAccount',
      '--service-cluster-ip-range=10.96.0.0/24',
      '--allow-privileged=false',
      '--enable-priority-and-fairness=false',
      '--max-requests-inflight=2000',
      '--max-mutating-requests-inflight=1000',
      '--v=1',
      ...extraArgs,
    ];
    if (this.opts.apiserverArgs) this.apiserverArgs = this.opts.apiserverArgs(this.apiserverArgs);
    this.apiserver = new Proc('kube-apiserver', this.bins.kubeApiserver, this.apiserverArgs, this.logDir);
    this.apiserver.start();
    this.kube = {
      url: this.apiUrl,
      tls: {
        ca: this.pki.caPem,
        cert: readFileSync(this.pki.adminCert, 'utf8'),
        key: readFileSync(this.pki.adminKey, 'utf8'),
      },
    };
    await this.waitApiserverReady();
    this.adminKubeconfig = join(this.dir, 'admin.kubeconfig');
    writeFileSync(
      this.adminKubeconfig,
      this.kubeconfig({ 'client-certificate': this.pki.adminCert, 'client-key': this.pki.adminKey }),
    );
  }

  private async waitApiserverReady(): Promise<void> {
    await waitFor(
      'kube-apiserver /readyz',
      async () => {
        const api = started(this.apiserver);
        if (!api.running) throw new Fatal(`kube-apiserver exited; see ${api.logFile}:\n${tail(api.logFile)}`);
        return (await call(this.kube, 'GET', '/readyz')).status === 200;
      },
      90_000,
      200,
    );
    // RBAC bootstrap roles (system:auth-delegator) are created by a post-start hook.
    await waitFor(
      'bootstrap cluster roles',
      async () =>
        (await call(this.kube, 'GET', '/apis/rbac.authorization.k8s.io/v1/clusterroles/system:auth-delegator'))
          .status === 200,
      30_000,
    );
  }

  /** The certificates of the control plane: a TLS proxy in front of the apiserver serves `serverCert`. */
  get pkiFiles(): Pki {
    return this.pki;
  }

  /** The etcd process, e.g. to SIGSTOP it so the apiserver's storage stalls. */
  get etcdProc(): Proc {
    return started(this.etcd);
  }

  /**
   * A second kube-apiserver on the same etcd and keys (an HA control plane), on its own port:
   * clients can write through it while the first one is down. Stopped by stop() too.
   */
  async startExtraApiserver(): Promise<{ kube: Endpoint; proc: Proc }> {
    const port = await freePort();
    const args = this.apiserverArgs.map((a) =>
      a.startsWith('--secure-port=')
        ? `--secure-port=${port}`
        : a.startsWith('--cert-dir=')
          ? `--cert-dir=${join(this.dir, `apiserver-certs-${port}`)}`
          : a,
    );
    const proc = new Proc(`kube-apiserver-${port}`, this.bins.kubeApiserver, args, this.logDir);
    proc.start();
    this.extraApiservers.push(proc);
    const kube: Endpoint = { ...this.kube, url: `https://127.0.0.1:${port}` };
    await waitFor(
      `extra kube-apiserver :${port} /readyz`,
      async () => {
        if (!proc.running) throw new Fatal(`kube-apiserver exited; see ${proc.logFile}:\n${tail(proc.logFile)}`);
        return (await call(kube, 'GET', '/readyz')).status === 200;
      },
      90_000,
      200,
    );
    return { kube, proc };
  }

  private readonly extraApiservers: Proc[] = [];

  /** Restarts kube-apiserver on the same port and etcd data. */
  async restartApiserver(downMs = 0): Promise<void> {
    await started(this.apiserver).stop();
    if (downMs > 0) await new Promise((r) => setTimeout(r, downMs));
    started(this.apiserver).start();
    await this.waitApiserverReady();
  }

  /** A kubeconfig for `user`; `server` defaults to the apiserver (a proxy in front of it, say). */
  kubeconfig(user: Record<string, string>, server = this.apiUrl): string {
    return toYaml({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'test', cluster: { server, 'certificate-authority': this.pki.caCert } }],
      users: [{ name: 'user', user }],
      contexts: [{ name: 'test', context: { cluster: 'test', user: 'user' } }],
      'current-context': 'test',
    });
  }

  private async applyCrds(): Promise<void> {
    const text = readFileSync(join(REPO, 'crds', 'vaultsync.io_secretsyncs.yaml'), 'utf8');
    for (const doc of parseAllDocuments(text)) {
      const crd = doc.toJS() as { metadata: { name: string } };
      await must(this.kube, 'POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', crd);
    }
    await this.waitForCrd();
  }

  /** Waits until the SecretSync CRD is Established and secretsyncs are served (after whoever created it). */
  async waitForCrd(): Promise<void> {
    const name = 'secretsyncs.vaultsync.io';
    await waitFor(`CRD ${name} established`, async () => {
      const r = await call<{ status?: { conditions?: { type: string; status: string }[] } }>(
        this.kube,
        'GET',
        `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${name}`,
      );
      return r.body.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True');
    });
    // The discovery cache of the apiserver needs the new group before clients use it.
    await waitFor(
      'secretsyncs served',
      async () => (await call(this.kube, 'GET', '/apis/vaultsync.io/v1alpha1/secretsyncs')).status === 200,
    );
  }

  async createNamespace(name: string): Promise<void> {
    await must(this.kube, 'POST', '/api/v1/namespaces', { metadata: { name } }, [409]);
  }

  async createServiceAccount(namespace: string, name: string): Promise<void> {
    await this.createNamespace(namespace);
    await must(this.kube, 'POST', `/api/v1/namespaces/${namespace}/serviceaccounts`, { metadata: { name } }, [409]);
  }

  async deleteServiceAccount(namespace: string, name: string): Promise<void> {
    await must(this.kube, 'DELETE', `/api/v1/namespaces/${namespace}/serviceaccounts/${name}`, undefined, [404]);
  }

  async tokenFor(namespace: string, name: string, audiences: string[], expirationSeconds = 3600): Promise<string> {
    const r = await must<{ status: { token: string } }>(
      this.kube,
      'POST',
      `/api/v1/namespaces/${namespace}/serviceaccounts/${name}/token`,
      { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { audiences, expirationSeconds } },
    );
    return r.body.status.token;
  }

  async bindClusterRole(name: string, rules: unknown[], subject: { namespace: string; name: string }): Promise<void> {
    await must(
      this.kube,
      'POST',
      '/apis/rbac.authorization.k8s.io/v1/clusterroles',
      { metadata: { name }, rules },
      [409],
    );
    await this.bindExistingClusterRole(name, name, subject);
  }

  async bindExistingClusterRole(
    binding: string,
    role: string,
    subject: { namespace: string; name: string },
  ): Promise<void> {
    await must(
      this.kube,
      'POST',
      '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings',
      {
        metadata: { name: binding },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: role },
        subjects: [{ kind: 'ServiceAccount', namespace: subject.namespace, name: subject.name }],
      },
      [409],
    );
  }

  /** The controller's ServiceAccount, its RBAC, a kubeconfig with its token, and its Vault-audience token. */
  private async setupController(): Promise<void> {
    await this.createServiceAccount(CONTROLLER_NAMESPACE, CONTROLLER_SA);
    await this.bindClusterRole('vaultsync-controller', CONTROLLER_RULES, {
      namespace: CONTROLLER_NAMESPACE,
      name: CONTROLLER_SA,
    });
    const token = await this.tokenFor(CONTROLLER_NAMESPACE, CONTROLLER_SA, [ISSUER], 24 * 3600);
    const tokenFile = join(this.dir, 'controller.kube-token');
    writeFileSync(tokenFile, token, { mode: 0o600 });
    this.controllerKubeconfig = join(this.dir, 'controller.kubeconfig');
    writeFileSync(this.controllerKubeconfig, this.kubeconfig({ tokenFile }));
    this.controllerVaultTokenFile = join(this.dir, 'controller.vault-token');
    writeFileSync(
      this.controllerVaultTokenFile,
      await this.tokenFor(CONTROLLER_NAMESPACE, CONTROLLER_SA, [VAULT_AUDIENCE], 24 * 3600),
      { mode: 0o600 },
    );
  }

  private vaultPort = 0;

  /** Starts OpenBao with file storage (data survives a restart); initialises and unseals it. */
  async startVault(init = false): Promise<void> {
    if (init) {
      this.vaultPort = await freePort();
      this.vaultAddr = `http://127.0.0.1:${this.vaultPort}`;
      const hcl = [
        `storage "file" { path = "${join(this.dir, 'vault-data')}" }`,
        `listener "tcp" {\n  address = "127.0.0.1:${this.vaultPort}"\n  tls_disable = true\n}`,
        'disable_mlock = true',
        `api_addr = "${this.vaultAddr}"`,
        'log_level = "info"',
        ...(this.opts.vaultHcl ? [this.opts.vaultHcl] : []),
      ].join('\n');
      writeFileSync(join(this.dir, 'vault.hcl'), hcl);
      this.vaultProc = new Proc(
        'vault',
        this.bins.vault,
        ['server', `-config=${join(this.dir, 'vault.hcl')}`],
        this.logDir,
        {
          ...process.env,
          BAO_ADDR: this.vaultAddr,
          VAULT_ADDR: this.vaultAddr,
        },
      );
    }
    const vaultProc = started(this.vaultProc);
    vaultProc.start();
    const bare: Endpoint = { url: this.vaultAddr };
    await waitFor('vault listening', async () => {
      if (!vaultProc.running) throw new Fatal(`vault exited; see ${vaultProc.logFile}:\n${tail(vaultProc.logFile)}`);
      const r = await call(bare, 'GET', '/v1/sys/seal-status');
      return r.status === 200;
    });
    if (init) {
      const r = await must<{ keys_base64: string[]; root_token: string }>(bare, 'PUT', '/v1/sys/init', {
        secret_shares: 1,
        secret_threshold: 1,
      });
      this.unsealKey = r.body.keys_base64[0] ?? '';
      this.rootToken = r.body.root_token;
      this.vault = { url: this.vaultAddr, headers: { 'x-vault-token': this.rootToken } };
    }
    await must(bare, 'PUT', '/v1/sys/unseal', { key: this.unsealKey });
    await waitFor('vault active', async () => (await call(bare, 'GET', '/v1/sys/health')).status === 200);
    if (init) await this.mountKv();
  }

  private async mountKv(): Promise<void> {
    await must(this.vault, 'POST', '/v1/sys/mounts/secret', { type: 'kv', options: { version: '2' } });
    await waitFor('kv v2 ready', async () => (await call(this.vault, 'GET', '/v1/secret/config')).status === 200);
  }

  /**
   * Makes an OpenBao started elsewhere (initialised and unsealed, e.g. test/env/vault-cluster.ts
   * behind its proxy) this environment's Vault, set up as the single node is: KV v2 at secret/ and
   * the Kubernetes auth method against this apiserver. writeKv, policy, role and startController
   * then use it. Only for an environment started with `vault: false`.
   */
  async attachVault(addr: string, rootToken: string): Promise<void> {
    if (this.vaultProc)
      throw new Error('attachVault: this environment runs its own OpenBao (start it with vault: false)');
    this.vaultAddr = addr;
    this.rootToken = rootToken;
    this.vault = { url: addr, headers: { 'x-vault-token': rootToken } };
    await this.mountKv();
    await this.setupVaultKubernetesAuth();
  }

  async stopVault(): Promise<void> {
    await started(this.vaultProc).kill();
  }

  private async setupVaultKubernetesAuth(): Promise<void> {
    // A reviewer identity allowed to call TokenReview, as in a real cluster.
    await this.createServiceAccount('vault', 'token-reviewer');
    await this.bindExistingClusterRole('vault-token-reviewer', 'system:auth-delegator', {
      namespace: 'vault',
      name: 'token-reviewer',
    });
    const reviewerJwt = await this.tokenFor('vault', 'token-reviewer', [ISSUER], 24 * 3600);
    await must(this.vault, 'POST', '/v1/sys/auth/kubernetes', { type: 'kubernetes' });
    await must(this.vault, 'POST', '/v1/auth/kubernetes/config', {
      kubernetes_host: this.apiUrl,
      kubernetes_ca_cert: this.pki.caPem,
      token_reviewer_jwt: reviewerJwt,
      disable_local_ca_jwt: true,
    });
  }

  async writeKv(path: string, data: Record<string, unknown>, mount = 'secret'): Promise<number> {
    const r = await must<{ data: { version: number } }>(this.vault, 'POST', `/v1/${mount}/data/${path}`, { data });
    return r.body.data.version;
  }

  async policy(name: string, hcl: string): Promise<void> {
    await must(this.vault, 'PUT', `/v1/sys/policies/acl/${name}`, { policy: hcl });
  }

  /** A Kubernetes-auth role bound to ServiceAccounts in namespaces, with policies and an audience. */
  async role(
    name: string,
    o: { serviceAccounts: string[]; namespaces: string[]; policies: string[]; audience?: string; ttl?: string },
  ): Promise<void> {
    await must(this.vault, 'POST', `/v1/auth/kubernetes/role/${name}`, {
      bound_service_account_names: o.serviceAccounts,
      bound_service_account_namespaces: o.namespaces,
      token_policies: o.policies,
      audience: o.audience ?? VAULT_AUDIENCE,
      token_ttl: o.ttl ?? '1h',
    });
  }

  /**
   * Runs the built controller (`bin/vaultsync.js run`) as its own ServiceAccount, or with
   * `opts.kubeconfig` (e.g. a token of the Helm chart's ServiceAccount). `opts.env` adds environment
   * variables (e.g. NODE_OPTIONS for profiling in bench/). `opts.readyTimeoutMs` (default 30 s) caps the
   * wait for /readyz, which lists every SecretSync and managed Secret first (minutes at 100 000).
   */
  async startController(
    extraArgs: string[] = [],
    name = 'controller',
    opts: { kubeconfig?: string; env?: Record<string, string>; readyTimeoutMs?: number } = {},
  ): Promise<{ proc: Proc; url: string }> {
    const port = await freePort();
    const proc = new Proc(
      `${name}-${this.controllers.length}`,
      process.execPath,
      [
        join(REPO, 'bin', 'vaultsync.js'),
        'run',
        `--kubeconfig=${opts.kubeconfig ?? this.controllerKubeconfig}`,
        `--vault-address=${this.vaultAddr}`,
        `--token-path=${this.controllerVaultTokenFile}`,
        `--controller-namespace=${CONTROLLER_NAMESPACE}`,
        `--listen=127.0.0.1:${port}`,
        '--refresh-min=1s',
        '--log-level=debug',
        ...extraArgs,
      ],
      this.logDir,
      { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...opts.env },
    );
    proc.start();
    this.controllers.push(proc);
    const url = `http://127.0.0.1:${port}`;
    await waitFor(
      'controller /readyz',
      async () => {
        if (!proc.running) throw new Fatal(`controller exited; see ${proc.logFile}:\n${tail(proc.logFile)}`);
        return (await call({ url }, 'GET', '/readyz')).status === 200;
      },
      opts.readyTimeoutMs,
    );
    return { proc, url };
  }

  /** Everything every process printed, for assertions (e.g. no secret in logs) and failure reports. */
  logs(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const p of [this.etcd, this.apiserver, ...this.extraApiservers, this.vaultProc, ...this.controllers]) {
      if (!p) continue;
      try {
        out[p.name] = readFileSync(p.logFile, 'utf8');
      } catch {
        out[p.name] = '';
      }
    }
    return out;
  }

  private readonly cleanups: (() => Promise<void>)[] = [];

  /** Runs `fn` in stop(), after the controllers and before OpenBao (e.g. a PostgreSQL server). */
  onStop(fn: () => Promise<void>): void {
    this.cleanups.push(fn);
  }

  /** Stops everything. Keeps the directory (with every process's log) when `failed` or `keep`. */
  async stop(failed = false): Promise<void> {
    for (const c of this.controllers) await c.stop();
    for (const fn of this.cleanups.splice(0).reverse()) await fn();
    for (const a of this.extraApiservers) await a.stop();
    await this.vaultProc?.stop();
    await this.apiserver?.stop();
    await this.etcd?.stop();
    if (failed || this.opts.keep) {
      process.stderr.write(`test environment kept for inspection: ${this.dir} (logs in ${this.logDir})\n`);
    } else {
      rmSync(this.dir, { recursive: true, force: true });
    }
  }
}

function started(p: Proc | undefined): Proc {
  if (p === undefined) throw new Error('process not started');
  return p;
}

function tail(file: string, lines = 15): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}
