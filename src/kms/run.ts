/**
 * `vaultsync kms`: wiring of the KMS v2 plugin. The one place where its Vault transport, token
 * manager, Transit client, service, gRPC server and metrics server are created and connected.
 */
import { readFile } from 'node:fs/promises';
import type { DestinationStream } from 'pino';
import { createLogger } from '../log/index.js';
import { appRoleSource, certSource, tokenFileSource, type TokenSource } from './auth-sources.js';
import { buildGrpcServer, listenUnix, shutdown } from './grpc.js';
import { buildKmsHttpServer, createKmsMetrics } from './metrics.js';
import { KMS_HELP, KmsUsageError, parseKmsArgs, type KmsOptions } from './options.js';
import { KmsService } from './service.js';
import { TokenManager } from './token-manager.js';
import { Transit } from './transit.js';
import { systemTimers, type KmsLogger } from './types.js';
import { VaultHttp } from './vault-http.js';

export interface KmsIo {
  stdout: (s: string) => void;
  stderr: (s: string) => void;
  /** Resolves when the process should stop (SIGTERM/SIGINT in the CLI). */
  stopSignal?: Promise<string>;
}

/** Exit code: 0 after a clean stop, 1 when start-up failed, 2 on a usage error. */
export async function runKms(argv: readonly string[], io: KmsIo): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    io.stdout(KMS_HELP);
    return 0;
  }
  let opts: KmsOptions;
  try {
    opts = parseKmsArgs(argv);
  } catch (err) {
    if (err instanceof KmsUsageError) {
      io.stderr(`vaultsync kms: ${err.message} (see vaultsync kms --help)\n`);
      return 2;
    }
    throw err;
  }
  try {
    return await serve(opts, io.stopSignal ?? stopSignal());
  } catch (err) {
    io.stderr(`vaultsync kms: ${err instanceof Error ? err.message : 'failed'}\n`);
    return 1;
  }
}

async function serve(opts: KmsOptions, stop: Promise<string>): Promise<number> {
  const log = kmsLogger(opts);
  const metrics = createKmsMetrics();
  const read = (f: string) => readFile(f, 'utf8');
  const vault = new VaultHttp({
    address: opts.vaultAddress,
    ...(opts.vaultCaFile === undefined ? {} : { caPem: await read(opts.vaultCaFile) }),
    ...(opts.clientCertFile === undefined || opts.clientKeyFile === undefined
      ? {}
      : { clientCert: { cert: await read(opts.clientCertFile), key: await read(opts.clientKeyFile) } }),
    ...(opts.vaultNamespace === undefined ? {} : { namespace: opts.vaultNamespace }),
    observe: (op, outcome, seconds) => metrics.vault(op, outcome, seconds),
  });
  const tokens = new TokenManager({
    source: tokenSource(opts, vault, read),
    vault,
    timers: systemTimers,
    log,
    onLease: (at) => metrics.tokenExpiry(at),
    backgroundTimeoutMs: 10_000,
  });
  const transit = new Transit(vault, tokens, { mount: opts.transitMount, name: opts.transitKey });
  const service = new KmsService(
    { transit, timers: systemTimers, log, onHealth: metrics.healthy, onKeyVersion: metrics.keyVersion },
    { rpcTimeoutMs: opts.timeoutMs, statusCacheMs: opts.statusCacheMs, statusFailCacheMs: opts.statusFailCacheMs },
  );
  const grpcServer = buildGrpcServer({ service, log, metrics });
  const http = buildKmsHttpServer({ registry: metrics.registry, status: () => service.status() });

  await listenUnix(grpcServer, opts.socket);
  await http.listen({ host: opts.listen.host, port: opts.listen.port });
  log.info(
    {
      socket: opts.socket,
      listen: `${opts.listen.host}:${opts.listen.port}`,
      vault: opts.vaultAddress,
      transit: `${opts.transitMount}/keys/${opts.transitKey}`,
      auth: opts.auth,
    },
    'KMS v2 plugin serving',
  );
  // A first Status at start: logs whether Vault, the token and the key work before any apiserver asks.
  void service.status();

  const why = await stop;
  log.info({ signal: why }, 'stopping');
  await shutdown(grpcServer, 5_000);
  await http.close();
  tokens.close();
  vault.close();
  return 0;
}

/** The plugin's logger, in --log-format at --log-level like `vaultsync run`'s; `destination` for tests. */
export function kmsLogger(
  opts: Pick<KmsOptions, 'logLevel' | 'logFormat'>,
  destination?: DestinationStream,
): KmsLogger {
  return createLogger({
    level: opts.logLevel,
    format: opts.logFormat,
    base: { app: 'vaultsync-kms' },
    ...(destination === undefined ? {} : { destination }),
  });
}

function tokenSource(opts: KmsOptions, vault: VaultHttp, readFile: (f: string) => Promise<string>): TokenSource {
  switch (opts.auth) {
    case 'token-file':
      return tokenFileSource({ file: opts.tokenFile ?? '', readFile, vault });
    case 'approle':
      return appRoleSource({
        mount: opts.approle.mount,
        roleIdFile: opts.approle.roleIdFile ?? '',
        secretIdFile: opts.approle.secretIdFile ?? '',
        readFile,
        vault,
      });
    case 'cert':
      return certSource({
        mount: opts.cert.mount,
        ...(opts.cert.role === undefined ? {} : { role: opts.cert.role }),
        vault,
      });
  }
}

function stopSignal(): Promise<string> {
  return new Promise((resolve) => {
    process.once('SIGTERM', () => resolve('SIGTERM'));
    process.once('SIGINT', () => resolve('SIGINT'));
  });
}
