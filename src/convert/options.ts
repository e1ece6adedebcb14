/** Flags of `vaultsync convert`. */

export interface ConvertCliOptions {
  /** Files to read; `-` is stdin. */
  files: string[];
  fromCluster: boolean;
  namespace?: string;
  kubeconfig?: string;
  context?: string;
  output?: string;
  vaultAddress?: string;
  allowDropped: boolean;
}

export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export const CONVERT_HELP = `Usage: vaultsync convert -f <file> [-f <file>...] [options]
       vaultsync convert --from-cluster [--namespace <ns>] [options]

Converts External Secrets Operator manifests (ExternalSecret with its SecretStore or
ClusterSecretStore, vault provider, external-secrets.io/v1 or v1beta1) into SecretSync YAML.
Every field that does not carry over is listed on stderr, per object, with the reason.
The mapping is in docs/migrating-from-eso.md.

  -f, --filename <file>     YAML to read (several documents, or a List); - for stdin (repeatable)
  --from-cluster            Read ExternalSecrets, SecretStores and ClusterSecretStores from the cluster
  -n, --namespace <ns>      With --from-cluster: only this namespace (default: all namespaces)
  --kubeconfig <file>       With --from-cluster: the kubeconfig (default: $KUBECONFIG, ~/.kube/config,
                            or the in-cluster configuration)
  --context <name>          With --from-cluster: the kubeconfig context
  -o, --output <file>       Write the SecretSyncs to this file instead of stdout
  --vault-address <url>     The controller's --vault-address: stores with this server get no
                            spec.vault.address (which the operator would have to allow)
  --allow-dropped           Write the SecretSyncs and exit 0 even when something was dropped
  --help                    This text

Exits 0 when everything converted; 1 when a field or an ExternalSecret was dropped (nothing is
written unless --allow-dropped) or the input could not be read; 2 on a usage error.
`;

const ALIASES: Record<string, string> = { f: 'filename', n: 'namespace', o: 'output' };
const VALUED = new Set(['filename', 'namespace', 'kubeconfig', 'context', 'output', 'vault-address']);
const SWITCHES = new Set(['from-cluster', 'allow-dropped']);

/** Throws UsageError with a one-line message. */
export function parseConvertArgs(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
): ConvertCliOptions {
  const opts: ConvertCliOptions = { files: [], fromCluster: false, allowDropped: false };
  const seen = new Set<string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    let name: string;
    let inline: string | undefined;
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=');
      name = arg.slice(2, eq === -1 ? undefined : eq);
      inline = eq === -1 ? undefined : arg.slice(eq + 1);
    } else if (/^-[a-zA-Z]$/.test(arg)) {
      name = ALIASES[arg.slice(1)] ?? arg;
    } else {
      throw new UsageError(`unexpected argument "${arg}"`);
    }
    if (SWITCHES.has(name)) {
      if (inline !== undefined) throw new UsageError(`--${name} takes no value`);
      if (name === 'from-cluster') opts.fromCluster = true;
      else opts.allowDropped = true;
      continue;
    }
    if (!VALUED.has(name)) throw new UsageError(`unknown flag ${arg.startsWith('--') ? `--${name}` : arg}`);
    const value = inline ?? argv[++i];
    if (value === undefined || value === '') throw new UsageError(`--${name} needs a value`);
    if (name === 'filename') {
      opts.files.push(value);
      continue;
    }
    if (seen.has(name)) throw new UsageError(`--${name} given twice`);
    seen.add(name);
    if (name === 'namespace') opts.namespace = value;
    else if (name === 'kubeconfig') opts.kubeconfig = value;
    else if (name === 'context') opts.context = value;
    else if (name === 'output') opts.output = value;
    else opts.vaultAddress = value;
  }
  if (opts.fromCluster === opts.files.length > 0) {
    throw new UsageError('give either -f <file> (repeatable) or --from-cluster');
  }
  if (!opts.fromCluster) {
    for (const flag of ['namespace', 'kubeconfig', 'context'] as const) {
      if (opts[flag] !== undefined) throw new UsageError(`--${flag} goes with --from-cluster`);
    }
  }
  if (opts.files.filter((f) => f === '-').length > 1) throw new UsageError('stdin (-) can be read only once');
  if (opts.fromCluster && opts.kubeconfig === undefined) {
    const fromEnv = env.KUBECONFIG?.split(':').find((p) => p !== '');
    if (fromEnv !== undefined) opts.kubeconfig = fromEnv;
  }
  return opts;
}
