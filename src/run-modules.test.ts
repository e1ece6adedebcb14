/**
 * What the `vaultsync run` process loads, observed rather than parsed: a child Node process imports
 * the run entry (src/cli.ts and src/main.ts, the module `run` imports) with a module-resolution hook
 * that records every URL it resolves. @kubernetes/client-node (~90 MiB of RSS once imported) and
 * node-vault (~27 MiB: axios, tv4, mustache) must not be among them, and liquidjs is loaded only when a
 * template is first rendered (docs/benchmarks.md, issue 14).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = dirname(dirname(fileURLToPath(import.meta.url)));
const FORBIDDEN = ['/node_modules/@kubernetes/client-node/', '/node_modules/node-vault/', '/node_modules/axios/'];

/** Every module URL resolved while importing `specifiers` in a fresh Node process in the repository (tsx for TypeScript). */
function resolvedModules(specifiers: string[]): string[] {
  const dir = mkdtempSync(join(tmpdir(), 'run-modules-'));
  const out = join(dir, 'resolved.txt');
  const hooks = join(dir, 'hooks.mjs');
  writeFileSync(
    hooks,
    `import { appendFileSync } from 'node:fs';
export async function resolve(specifier, context, next) {
  const result = await next(specifier, context);
  appendFileSync(${JSON.stringify(out)}, result.url + '\\n');
  return result;
}
`,
  );
  const register = join(dir, 'register.mjs');
  writeFileSync(
    register,
    `import { register } from 'node:module';\nregister(${JSON.stringify(pathToFileURL(hooks).href)});\n`,
  );
  writeFileSync(out, '');
  const script = specifiers.map((e) => `await import(${JSON.stringify(e)});`).join('\n');
  const child = spawnSync(
    process.execPath,
    ['--import', 'tsx', '--import', register, '--input-type=module', '-e', script],
    {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 60_000,
    },
  );
  expect(child.status, child.stderr).toBe(0);
  return readFileSync(out, 'utf8')
    .split('\n')
    .filter((l) => l !== '');
}

describe('the run process', () => {
  it('loads neither @kubernetes/client-node nor node-vault', () => {
    const src = (f: string) => pathToFileURL(join(ROOT, 'src', f)).href;
    const urls = resolvedModules([src('cli.ts'), src('main.ts')]);
    // The recorder works: it saw our modules and the dependencies `run` does use.
    expect(urls.some((u) => u.endsWith('/src/main.ts'))).toBe(true);
    expect(urls.some((u) => u.includes('/src/kube/http.ts'))).toBe(true);
    expect(urls.some((u) => u.includes('/node_modules/fastify/'))).toBe(true);
    expect(urls.filter((u) => FORBIDDEN.some((f) => u.includes(f)))).toEqual([]);
    // liquidjs comes in with the first SecretSync that has a template, not at start-up.
    expect(urls.filter((u) => u.includes('/node_modules/liquidjs/'))).toEqual([]);
  }, 60_000);

  it('would see them if they were loaded (the recorder is not blind to node_modules)', () => {
    const urls = resolvedModules(['@kubernetes/client-node']);
    expect(urls.some((u) => u.includes('/node_modules/@kubernetes/client-node/'))).toBe(true);
  }, 60_000);
});
