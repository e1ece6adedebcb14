import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { readBuildInfo } from './build-info.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A package root with package.json and dist/, optionally dist/REVISION; returns dist/ as a URL. */
function build(pkg: object, revision?: string): URL {
  const root = mkdtempSync(join(tmpdir(), 'vaultsync-build-'));
  dirs.push(root);
  mkdirSync(join(root, 'dist'));
  writeFileSync(join(root, 'package.json'), JSON.stringify(pkg));
  if (revision !== undefined) writeFileSync(join(root, 'dist', 'REVISION'), revision);
  return pathToFileURL(join(root, 'dist') + '/');
}

describe('readBuildInfo', () => {
  it("reads this repository's package.json", () => {
    const info = readBuildInfo();
    expect(info.version).toMatch(/^\d+\.\d+\.\d+/);
    expect(info.nodeVersion).toBe(process.version);
  });

  it('takes the revision the image build wrote beside the code', () => {
    const sha = 'a'.repeat(40);
    expect(readBuildInfo(build({ version: '0.3.0' }, `${sha}\n`))).toEqual({
      version: '0.3.0',
      revision: sha,
      nodeVersion: process.version,
    });
  });

  it("falls back to package.json's gitHead, then unknown", () => {
    expect(readBuildInfo(build({ version: '0.3.0', gitHead: 'abcdef1' })).revision).toBe('abcdef1');
    expect(readBuildInfo(build({ version: '0.3.0' })).revision).toBe('unknown');
    expect(readBuildInfo(build({})).version).toBe('unknown');
  });

  it('puts nothing but a commit hash in the label', () => {
    expect(readBuildInfo(build({ version: '0.3.0' }, 'hvs.CAESIsecret-token\n')).revision).toBe('unknown');
    expect(readBuildInfo(build({ version: '0.3.0' }, '')).revision).toBe('unknown');
  });
});
