import { mkdtemp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { generatedFiles } from '../src/gen/index.js';
import { gen, main } from './gen.js';

describe('gen', () => {
  let root: string;
  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'vaultsync-gen-'));
  });
  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  const files = [
    { path: 'a/one.txt', content: 'one\n' },
    { path: 'b/c/two.txt', content: 'two\n' },
  ];

  it('writes missing files, then finds nothing stale', async () => {
    expect(await gen(root, false, files)).toEqual({
      stale: ['a/one.txt', 'b/c/two.txt'],
      written: ['a/one.txt', 'b/c/two.txt'],
    });
    expect(await readFile(join(root, 'b/c/two.txt'), 'utf8')).toBe('two\n');
    expect(await gen(root, true, files)).toEqual({ stale: [], written: [] });
  });

  it('under check, names only the files that differ and writes nothing', async () => {
    await gen(root, false, files);
    await writeFile(join(root, 'a/one.txt'), 'edited by hand\n');
    expect(await gen(root, true, files)).toEqual({ stale: ['a/one.txt'], written: [] });
    expect(await readFile(join(root, 'a/one.txt'), 'utf8')).toBe('edited by hand\n');
  });

  it('main --check exits 1 naming the stale file; main writes and exits 0', async () => {
    const lines: string[] = [];
    const out = { log: (l: string) => lines.push(`log: ${l}`), error: (l: string) => lines.push(`error: ${l}`) };
    const [crd, ...rest] = generatedFiles();
    for (const file of rest) {
      await mkdir(dirname(join(root, file.path)), { recursive: true });
      await writeFile(join(root, file.path), file.content);
    }

    expect(await main(['--check'], root, out)).toBe(1);
    expect(lines).toEqual([`error: stale generated file(s), run npm run gen and commit the result:\n  ${crd!.path}`]);

    lines.length = 0;
    expect(await main([], root, out)).toBe(0);
    expect(lines).toEqual([`log: wrote ${crd!.path}`]);
    expect(await readFile(join(root, crd!.path), 'utf8')).toBe(crd!.content);
    expect(await main(['--check'], root, out)).toBe(0);
  });

  it('refuses unknown arguments', async () => {
    const errors: string[] = [];
    expect(await main(['--chek'], root, { log: () => undefined, error: (l) => errors.push(l) })).toBe(2);
    expect(errors[0]).toContain('unknown argument: --chek');
  });
});
