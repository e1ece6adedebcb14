/** The `vaultsync` command. Returns the process exit code: 0 ok, 1 failure, 2 usage error. */
import { readFileSync } from 'node:fs';
import { readBuildInfo } from './build-info.js';
import { ConfigError, parseConfig, runHelp, type Config } from './config.js';

const USAGE = `Usage: vaultsync <command> [options]

Commands:
  run        Run the controller (vaultsync run --help for its options)
  trigger    Ask a running controller to refresh Vault paths now (vaultsync trigger --help)
  kms        Serve the Kubernetes KMS v2 API backed by Vault Transit (vaultsync kms --help)
  check      Check through the API server that vaultsync is installed and ready (helm test)
  convert    Convert External Secrets Operator manifests into SecretSyncs (vaultsync convert --help)
  version    Print the version

Keeps Kubernetes Secrets in step with HashiCorp Vault / OpenBao KV v2.
`;

export interface CliIo {
  env: Readonly<Record<string, string | undefined>>;
  stdout: (s: string) => void;
  stderr: (s: string) => void;
}

const defaultIo: CliIo = {
  // process.env is passed on to config.ts, the one place that interprets it.
  env: process.env,
  stdout: (s) => process.stdout.write(s),
  stderr: (s) => process.stderr.write(s),
};

export async function main(argv: readonly string[], io: CliIo = defaultIo): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case undefined:
    case '--help':
    case '-h':
    case 'help':
      io.stdout(USAGE);
      return command === undefined ? 2 : 0;
    case 'version':
    case '--version':
      io.stdout(`vaultsync ${version()}\n`);
      return 0;
    case 'run': {
      if (rest.includes('--help') || rest.includes('-h')) {
        io.stdout(runHelp());
        return 0;
      }
      let config;
      try {
        config = parseConfig(rest, { env: io.env, readFile: (p) => readFileSync(p, 'utf8') });
      } catch (err) {
        if (err instanceof ConfigError) {
          io.stderr(`vaultsync run: ${err.message} (see vaultsync run --help)\n`);
          return 2;
        }
        throw err;
      }
      try {
        return await runController(config);
      } catch (err) {
        // Start-up failures (API server unreachable, hash key unreadable): one line, exit 1.
        io.stderr(`vaultsync run: ${err instanceof Error ? err.message : 'failed'}\n`);
        return 1;
      }
    }
    case 'trigger': {
      const { runTrigger } = await import('./trigger/index.js');
      return runTrigger(rest, { stdout: io.stdout, stderr: io.stderr, env: io.env });
    }
    case 'check': {
      const { runCheck } = await import('./check/index.js');
      return runCheck(rest, { stdout: io.stdout, stderr: io.stderr });
    }
    case 'kms': {
      const { runKms } = await import('./kms/index.js');
      return runKms(rest, { stdout: io.stdout, stderr: io.stderr });
    }
    case 'convert': {
      const { runConvert } = await import('./convert/index.js');
      return runConvert(rest, { stdout: io.stdout, stderr: io.stderr, env: io.env });
    }
    default:
      io.stderr(`vaultsync: unknown command "${command}" (see vaultsync --help)\n`);
      return 2;
  }
}

export function version(): string {
  return readBuildInfo().version;
}

/** Runs the controller until a signal or its own end: the `vaultsync run` command. */
async function runController(config: Config): Promise<number> {
  const { build } = await import('./main.js');
  const app = await build(config);
  const { log } = app;
  const signalled = new Promise<string>((resolve) => {
    process.once('SIGTERM', () => resolve('SIGTERM'));
    process.once('SIGINT', () => resolve('SIGINT'));
  });
  app.start();
  await app.servers.main.listen({ host: config.listen.host, port: config.listen.port });
  if (app.servers.webhook && config.webhook.listen) {
    await app.servers.webhook.listen({ host: config.webhook.listen.host, port: config.webhook.listen.port });
  }
  log.info({ listen: `${config.listen.host}:${config.listen.port}`, vault: config.vault.address }, 'vaultsync running');
  const why = await Promise.race([signalled, app.ended]);
  log.info({ why }, 'shutting down');
  await app.stop();
  return why === 'fatal' || why === 'lost' ? 1 : 0;
}
