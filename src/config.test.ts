import { describe, expect, it } from 'vitest';
import { ConfigError, collectOptions, parseConfig, runHelp, runOptions } from './config.js';

const io = (env: Record<string, string> = {}, files: Record<string, string> = {}) => ({
  env,
  readFile: (p: string) => {
    const f = files[p];
    if (f === undefined) throw Object.assign(new Error(`ENOENT: ${p}`), { code: 'ENOENT' });
    return f;
  },
});

const base = ['--vault-address', 'http://127.0.0.1:8200'];

describe('parseConfig', () => {
  it('applies defaults', () => {
    const c = parseConfig(base, io());
    expect(c.vault).toMatchObject({
      address: 'http://127.0.0.1:8200',
      authMount: 'kubernetes',
      requestTimeoutMs: 10_000,
    });
    expect(c.refresh).toEqual({ defaultMs: 15 * 60_000, minMs: 30_000 });
    expect(c.auth).toMatchObject({
      tokenAudiences: ['vault'],
      tokenExpirationSeconds: 600,
      allowControllerIdentity: false,
    });
    expect(c.namespaces).toEqual([]);
    expect(c.listen).toEqual({ host: '0.0.0.0', port: 8080 });
    expect(c.controllerNamespace).toBe('vaultsync');
    expect(c.hashKeySecret).toEqual({ namespace: 'vaultsync', name: 'vaultsync-hash-key' });
  });

  it('takes flags over environment over defaults', () => {
    const c = parseConfig(
      ['--concurrency=3', '--vault-address', 'https://v:8200/'],
      io({
        VAULTSYNC_CONCURRENCY: '5',
        VAULTSYNC_NAMESPACES: 'a, b,,c',
        VAULTSYNC_ALLOW_CONTROLLER_IDENTITY: 'true',
        VAULTSYNC_CONTROLLER_VAULT_ROLE: 'vaultsync',
        VAULTSYNC_VAULT_ADDRESS: 'http://ignored:1',
        POD_NAMESPACE: 'ops',
      }),
    );
    expect(c.concurrency).toBe(3);
    expect(c.vault.address).toBe('https://v:8200');
    expect(c.namespaces).toEqual(['a', 'b', 'c']);
    expect(c.auth.allowControllerIdentity).toBe(true);
    expect(c.controllerNamespace).toBe('ops');
  });

  it('reads the CA file', () => {
    const pem = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
    const c = parseConfig([...base, '--vault-ca-file', '/ca.pem'], io({}, { '/ca.pem': pem }));
    expect(c.vault.caBundle).toBe(pem);
  });

  it.each([
    [[], /--vault-address is required/],
    [['--vault-address', 'vault:8200'], /must be an http/],
    [[...base, '--bogus'], /unknown flag --bogus/],
    [[...base, '--concurrency'], /needs a value/],
    [[...base, '--concurrency', '0'], /integer ≥ 1/],
    [[...base, '--concurrency', 'x'], /integer/],
    [[...base, '--refresh-default', 'soon'], /not a duration/],
    [[...base, '--refresh-default', '10s', '--refresh-min', '1m'], /not be below/],
    [[...base, '--token-expiration', '5m'], /at least 10m/],
    [[...base, '--log-level', 'loud'], /one of debug/],
    [[...base, '--listen', '8080'], /host:port/],
    [[...base, '--allow-controller-identity=yes'], /true or false/],
    [[...base, '--vault-ca-file', '/missing'], /cannot read \/missing: ENOENT/],
    [[...base, 'stray'], /unexpected argument/],
  ] as const)('rejects %j', (argv, message) => {
    expect(() => parseConfig(argv, io())).toThrow(ConfigError);
    expect(() => parseConfig(argv, io())).toThrow(message);
  });

  it('error messages are one line', () => {
    try {
      parseConfig([...base, '--nope'], io());
      expect.unreachable();
    } catch (err) {
      expect((err as Error).message).not.toContain('\n');
    }
  });
});

describe('options table', () => {
  it('help lists every flag and its environment variable', () => {
    const help = runHelp();
    for (const o of runOptions) {
      expect(help).toContain(`--${o.flag}`);
      expect(help).toContain(`$${o.env}`);
    }
  });

  it('boolean flags accept --no-', () => {
    expect(
      collectOptions(['--no-allow-controller-identity'], { VAULTSYNC_ALLOW_CONTROLLER_IDENTITY: 'true' })[
        'allow-controller-identity'
      ],
    ).toBe('false');
  });
});

describe('per-namespace shares', () => {
  it('default to half of each global budget, at least 1', () => {
    expect(parseConfig(base, io()).tenancy).toEqual({
      maxWorkersPerNamespace: 4,
      vaultQpsPerNamespace: 25,
      writeQpsPerNamespace: 25,
      maxSecretSyncsPerNamespace: 0,
    });
    expect(parseConfig([...base, '--concurrency=1', '--vault-qps=3'], io()).tenancy).toMatchObject({
      maxWorkersPerNamespace: 1,
      vaultQpsPerNamespace: 2,
    });
  });

  it('take flags and environment, and refuse a share larger than the whole', () => {
    const c = parseConfig(
      [...base, '--namespace-max-workers=2', '--namespace-max-secretsyncs=100'],
      io({ VAULTSYNC_NAMESPACE_VAULT_QPS: '10' }),
    );
    expect(c.tenancy).toMatchObject({
      maxWorkersPerNamespace: 2,
      vaultQpsPerNamespace: 10,
      maxSecretSyncsPerNamespace: 100,
    });
    expect(() => parseConfig([...base, '--namespace-max-workers=9'], io())).toThrow(
      new ConfigError('--namespace-max-workers: 9 is more than --concurrency (8)'),
    );
  });
});

describe('leader election options', () => {
  it('is off by default with client-go-like timings', () => {
    expect(parseConfig(base, io()).leaderElection).toEqual({
      enabled: false,
      leaseName: 'vaultsync-leader',
      leaseDurationMs: 15_000,
      renewDeadlineMs: 10_000,
      retryPeriodMs: 2_000,
      shutdownDrainMs: 3_000,
    });
  });

  it('takes flags and environment', () => {
    const c = parseConfig(
      [...base, '--leader-elect', '--leader-election-lease-duration=30s', '--leader-election-retry-period', '500ms'],
      io({ VAULTSYNC_LEADER_ELECTION_LEASE_NAME: 'other', VAULTSYNC_LEADER_ELECTION_RENEW_DEADLINE: '20s' }),
    );
    expect(c.leaderElection).toEqual({
      enabled: true,
      leaseName: 'other',
      leaseDurationMs: 30_000,
      renewDeadlineMs: 20_000,
      retryPeriodMs: 500,
      shutdownDrainMs: 3_000,
    });
  });

  it.each([
    [['--leader-election-lease-duration=1500ms'], /whole seconds/],
    [['--leader-election-lease-duration=0'], /whole seconds/],
    [['--leader-election-renew-deadline=15s'], /renew-deadline must be below --leader-election-lease-duration/],
    [['--leader-election-retry-period=10s'], /retry-period must be above 0 and below/],
    [['--leader-election-retry-period=0'], /retry-period must be above 0/],
    [['--leader-elect=maybe'], /true or false/],
  ] as const)('rejects %j', (argv, message) => {
    expect(() => parseConfig([...base, ...argv], io())).toThrow(message);
  });
});

describe('webhook options', () => {
  it('is off and shares --listen by default', () => {
    expect(parseConfig(base, io()).webhook).toEqual({
      keyFile: undefined,
      namespaceKeysDir: undefined,
      listen: undefined,
      rateLimitPerMinute: 60,
      globalRateLimitPerMinute: 600,
      trustedProxies: [],
      coalesceWindowMs: 1000,
      peerAddress: undefined,
      handoverWaitMs: 5000,
    });
  });

  it('takes flags and environment', () => {
    const c = parseConfig(
      [...base, '--webhook-key-file=/keys/webhook', '--webhook-listen', ':9443', '--webhook-coalesce-window=250ms'],
      io({
        VAULTSYNC_WEBHOOK_NAMESPACE_KEYS_DIR: '/keys/ns',
        VAULTSYNC_WEBHOOK_RATE_LIMIT: '10',
        VAULTSYNC_WEBHOOK_HANDOVER_WAIT: '3s',
      }),
    );
    expect(c.webhook).toEqual({
      keyFile: '/keys/webhook',
      namespaceKeysDir: '/keys/ns',
      listen: { host: '0.0.0.0', port: 9443 },
      rateLimitPerMinute: 10,
      globalRateLimitPerMinute: 100,
      trustedProxies: [],
      coalesceWindowMs: 250,
      peerAddress: undefined,
      handoverWaitMs: 3000,
    });
  });

  it('publishes $POD_IP with the webhook port for standbys to forward to, unless given', () => {
    const own = ['--webhook-listen=0.0.0.0:8443'];
    expect(parseConfig([...base, ...own], io({ POD_IP: '10.1.2.3' })).webhook.peerAddress).toBe('10.1.2.3:8443');
    expect(parseConfig(base, io({ POD_IP: 'fd00::7' })).webhook.peerAddress).toBe('[fd00::7]:8080');
    expect(
      parseConfig([...base, ...own, '--webhook-peer-address=vs-0.vs:8443'], io({ POD_IP: '10.1.2.3' })).webhook
        .peerAddress,
    ).toBe('vs-0.vs:8443');
    expect(() => parseConfig([...base, '--webhook-peer-address=10.1.2.3'], io())).toThrow('must be host:port');
    expect(() => parseConfig(base, io({ POD_IP: 'not-an-ip' }))).toThrow('POD_IP');
  });

  it('takes trusted proxies (addresses and CIDRs) and a global rate limit', () => {
    const c = parseConfig(
      [...base, '--webhook-trusted-proxies=10.0.0.0/8, 127.0.0.1,fd00::/8', '--webhook-global-rate-limit=120'],
      io(),
    );
    expect(c.webhook.trustedProxies).toEqual(['10.0.0.0/8', '127.0.0.1', 'fd00::/8']);
    expect(c.webhook.globalRateLimitPerMinute).toBe(120);
  });

  it('exports no per-SecretSync series unless asked', () => {
    expect(parseConfig(base, io()).metrics).toEqual({ perSecretSync: false });
    expect(parseConfig([...base, '--metrics-per-secretsync'], io()).metrics).toEqual({ perSecretSync: true });
  });

  it.each([
    [['--webhook-listen', '9443'], /--webhook-listen: "9443" must be host:port/],
    [['--webhook-listen', '127.0.0.1:8080'], /another port than --listen/],
    [['--webhook-rate-limit', '0'], /--webhook-rate-limit: "0" must be an integer ≥ 1/],
    [['--webhook-coalesce-window', 'brief'], /not a duration/],
    [['--webhook-global-rate-limit', '119'], /at least twice --webhook-rate-limit \(60\)/],
    [['--webhook-trusted-proxies', '10.0.0.0/33'], /"10.0.0.0\/33" is not an IP address or CIDR/],
    [['--webhook-trusted-proxies', 'proxy.example'], /"proxy.example" is not an IP address or CIDR/],
  ] as const)('rejects %j', (argv, message) => {
    expect(() => parseConfig([...base, ...argv], io())).toThrow(message);
  });
});

describe('Vault addresses and the controller identity', () => {
  it('allows only --vault-address by default, and the listed addresses besides, as origins', () => {
    expect(parseConfig(base, io()).vault.allowedAddresses).toEqual([
      new URL(base[base.indexOf('--vault-address') + 1] ?? '').origin,
    ]);
    const c = parseConfig(
      [
        '--vault-address=https://vault.example:8200/',
        '--vault-allowed-addresses=http://10.0.0.5:8200, https://Node-2.example:443,https://vault.example:8200',
      ],
      io(),
    );
    expect(c.vault.allowedAddresses).toEqual([
      'https://vault.example:8200',
      'http://10.0.0.5:8200',
      'https://node-2.example',
    ]);
  });

  it.each(['vault:8200', 'ftp://vault', 'https://vault:8200/v1', 'https://vault?x', 'https://u:p@vault'])(
    'refuses %s in --vault-allowed-addresses',
    (address) => {
      expect(() => parseConfig([...base, `--vault-allowed-addresses=${address}`], io())).toThrow(
        /--vault-allowed-addresses: .* must be an http:\/\/ or https:\/\/ address without a path/,
      );
    },
  );

  it('needs --controller-vault-role with --allow-controller-identity', () => {
    expect(() => parseConfig([...base, '--allow-controller-identity'], io())).toThrow(/--controller-vault-role/);
    const c = parseConfig([...base, '--allow-controller-identity', '--controller-vault-role=vaultsync'], io());
    expect(c.auth).toMatchObject({ allowControllerIdentity: true, controllerVaultRole: 'vaultsync' });
  });
});
