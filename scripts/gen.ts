/**
 * Writes the files generated from code (src/gen/: the CRD in crds/, the API reference, configuration and metrics in docs/).
 *   npm run gen               write them
 *   npm run gen -- --check    write nothing; exit 1 naming every file that differs from what it would write
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { generatedFiles, type GeneratedFile } from '../src/gen/index.js';

export interface GenResult {
  /** Files (relative paths) whose committed content differs from the generated one, or that are missing. */
  stale: string[];
  written: string[];
}

/** Compares (and unless `check`, writes) the generated files under `root`. */
export async function gen(root: string, check: boolean, files: GeneratedFile[] = generatedFiles()): Promise<GenResult> {
  const result: GenResult = { stale: [], written: [] };
  for (const file of files) {
    const target = join(root, file.path);
    const current = await readFile(target, 'utf8').catch((err: unknown) => {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    });
    if (current === file.content) continue;
    result.stale.push(file.path);
    if (check) continue;
    await mkdir(dirname(target), { recursive: true });
    await writeFile(target, file.content);
    result.written.push(file.path);
  }
  return result;
}

export interface Output {
  log(line: string): void;
  error(line: string): void;
}

/** The command: returns the exit code (0 written or up to date, 1 stale under --check, 2 usage). */
export async function main(argv: string[], root: string, out: Output): Promise<number> {
  const unknown = argv.filter((a) => a !== '--check');
  if (unknown.length > 0) {
    out.error(`usage: tsx scripts/gen.ts [--check] (unknown argument: ${unknown.join(' ')})`);
    return 2;
  }
  const check = argv.includes('--check');
  const { stale, written } = await gen(root, check);
  if (check && stale.length > 0) {
    out.error(
      `stale generated file(s), run npm run gen and commit the result:\n${stale.map((f) => `  ${f}`).join('\n')}`,
    );
    return 1;
  }
  for (const f of written) out.log(`wrote ${f}`);
  if (stale.length === 0) out.log('generated files are up to date');
  return 0;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const root = fileURLToPath(new URL('..', import.meta.url));
  process.exitCode = await main(process.argv.slice(2), root, console);
}
