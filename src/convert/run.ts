/**
 * `vaultsync convert`: reads ESO manifests from files, stdin or the cluster, converts them
 * (convert.ts) and writes SecretSync YAML. What was dropped goes to stderr, per ExternalSecret.
 */
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { Document } from 'yaml';
import { convertManifests, type Conversion } from './convert.js';
import { InputError, parseManifests, type ParsedInput } from './manifests.js';
import { CONVERT_HELP, UsageError, parseConvertArgs, type ConvertCliOptions } from './options.js';

export interface ConvertIo {
  stdout(s: string): void;
  stderr(s: string): void;
  env: Readonly<Record<string, string | undefined>>;
  readFile(path: string): Promise<string>;
  readStdin(): Promise<string>;
  writeFile(path: string, text: string): Promise<void>;
  /** ESO objects from the cluster (--from-cluster). */
  listCluster(opts: ConvertCliOptions): Promise<ParsedInput>;
}

/** Runs the command; returns the exit code: 0 converted, 1 dropped or unreadable, 2 usage error. */
export async function runConvert(
  argv: readonly string[],
  io: Pick<ConvertIo, 'stdout' | 'stderr'> & Partial<ConvertIo>,
): Promise<number> {
  const full: ConvertIo = {
    env: {},
    readFile: (p) => readFile(p, 'utf8'),
    readStdin,
    writeFile: (p, text) => writeFile(p, text, 'utf8'),
    listCluster: async (opts) => (await import('./cluster.js')).listFromCluster(opts),
    ...io,
  };
  if (argv.includes('--help') || argv.includes('-h')) {
    full.stdout(CONVERT_HELP);
    return 0;
  }
  let opts: ConvertCliOptions;
  try {
    opts = parseConvertArgs(argv, full.env);
  } catch (err) {
    if (err instanceof UsageError) {
      full.stderr(`vaultsync convert: ${err.message} (see vaultsync convert --help)\n`);
      return 2;
    }
    throw err;
  }
  if (opts.fromCluster && opts.kubeconfig === undefined) {
    const home = join(homedir(), '.kube', 'config');
    if (existsSync(home)) opts.kubeconfig = home;
  }

  let input: ParsedInput;
  try {
    input = await readInput(opts, full);
  } catch (err) {
    full.stderr(`vaultsync convert: ${err instanceof Error ? err.message : 'cannot read the input'}\n`);
    return 1;
  }
  const result = convertManifests(input.manifests, { controllerAddress: opts.vaultAddress });
  const skipped = [...input.skipped, ...result.skipped];
  for (const s of skipped) full.stderr(`skipped ${s.what} (${s.origin}): ${s.why}\n`);
  if (result.conversions.length === 0) {
    full.stderr('vaultsync convert: no ExternalSecret in the input\n');
    return 1;
  }
  const lossy = report(result.conversions, (s) => full.stderr(s));
  if (lossy && !opts.allowDropped) {
    full.stderr(
      'vaultsync convert: nothing written because something was dropped; check the list above and rerun with --allow-dropped to write the rest\n',
    );
    return 1;
  }
  const text = toYaml(result.conversions);
  if (opts.output === undefined) full.stdout(text);
  else {
    try {
      await full.writeFile(opts.output, text);
    } catch (err) {
      full.stderr(
        `vaultsync convert: cannot write ${opts.output}: ${(err as NodeJS.ErrnoException).code ?? 'failed'}\n`,
      );
      return 1;
    }
  }
  return 0;
}

async function readInput(opts: ConvertCliOptions, io: ConvertIo): Promise<ParsedInput> {
  if (opts.fromCluster) return io.listCluster(opts);
  const out: ParsedInput = { manifests: [], skipped: [] };
  for (const file of opts.files) {
    let text: string;
    try {
      text = file === '-' ? await io.readStdin() : await io.readFile(file);
    } catch (err) {
      throw new InputError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? 'failed'}`);
    }
    const parsed = parseManifests(text, file === '-' ? 'stdin' : file);
    out.manifests.push(...parsed.manifests);
    out.skipped.push(...parsed.skipped);
  }
  return out;
}

function nameOf(c: { namespace?: string | undefined; name: string }): string {
  return c.namespace === undefined ? c.name : `${c.namespace}/${c.name}`;
}

/** Lists every conversion with losses on stderr; true when anything was dropped. */
function report(conversions: readonly Conversion[], stderr: (s: string) => void): boolean {
  let fields = 0;
  let failed = 0;
  for (const c of conversions) {
    const head = `ExternalSecret ${nameOf(c.from)} (${c.from.origin})`;
    if (c.error !== undefined) {
      failed++;
      stderr(`${head}: not converted: ${c.error}\n`);
    } else if (c.dropped.length > 0) {
      stderr(`${head}: converted, ${c.dropped.length} field(s) dropped:\n`);
    }
    for (const d of c.dropped) stderr(`  dropped ${d.field}: ${d.why}\n`);
    fields += c.dropped.length;
  }
  const converted = conversions.length - failed;
  stderr(
    `${conversions.length} ExternalSecret(s): ${converted} converted, ${failed} not converted; ${fields} field(s) dropped\n`,
  );
  return failed > 0 || fields > 0;
}

/** The SecretSyncs as YAML documents, each headed by where it came from and what it dropped. */
export function toYaml(conversions: readonly Conversion[]): string {
  const docs: string[] = [];
  for (const c of conversions) {
    if (c.secretSync === undefined) continue;
    const doc = new Document(c.secretSync);
    const lines = [` converted by vaultsync convert from ExternalSecret ${nameOf(c.from)} (${c.from.origin})`];
    for (const d of c.dropped) lines.push(` dropped ${d.field}: ${d.why}`);
    doc.commentBefore = lines.join('\n');
    docs.push(doc.toString({ lineWidth: 0 }));
  }
  return docs.join('---\n');
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
