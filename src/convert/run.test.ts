/** `vaultsync convert` as a command: inputs, the report on stderr, the YAML written, exit codes. */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseAllDocuments, stringify } from 'yaml';
import { main } from '../cli.js';
import { runConvert } from './run.js';
import { ESO_FIXTURES, e2eCases, storeFor } from './testing/fixtures.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'vaultsync-convert-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

function capture() {
  const out = { stdout: '', stderr: '' };
  return { out, io: { stdout: (s: string) => (out.stdout += s), stderr: (s: string) => (out.stderr += s) } };
}

const { store, cases } = e2eCases();
const byName = (name: string) => cases.find((c) => c.name === name)!;
/** A clean case (nothing dropped) and a lossy one (decodingStrategy: Auto). */
const clean = byName('JSONDataWithoutTargetName');
const lossy = byName('DecodingPolicySync');
const yamlOf = (...objs: unknown[]) => objs.map((o) => stringify(o)).join('---\n');

async function files(): Promise<{ clean: string; lossy: string }> {
  const a = join(dir, 'clean.yaml');
  const b = join(dir, 'lossy.yaml');
  await writeFile(a, yamlOf(storeFor(store, clean.namespace), clean.externalSecret));
  await writeFile(b, yamlOf(storeFor(store, lossy.namespace), lossy.externalSecret));
  return { clean: a, lossy: b };
}

describe('vaultsync convert', () => {
  it('writes SecretSync YAML to stdout and exits 0 when nothing is dropped', async () => {
    const f = await files();
    const { out, io } = capture();
    expect(await runConvert(['-f', f.clean], io)).toBe(0);
    const docs = parseAllDocuments(out.stdout);
    expect(docs).toHaveLength(1);
    expect(docs[0]?.toJS()).toMatchObject({
      apiVersion: 'vaultsync.io/v1alpha1',
      kind: 'SecretSync',
      metadata: { name: 'e2e-es', namespace: 'e2e-notarget' },
      spec: { data: [{ secretKey: 'e2e-notarget-one', property: 'foo' }] },
    });
    expect(out.stdout).toMatch(/^# converted by vaultsync convert from ExternalSecret e2e-notarget\/e2e-es/);
    expect(out.stderr).toBe('1 ExternalSecret(s): 1 converted, 0 not converted; 0 field(s) dropped\n');
  });

  it('lists what was dropped per ExternalSecret, writes nothing and exits 1 without --allow-dropped', async () => {
    const f = await files();
    const { out, io } = capture();
    expect(await runConvert(['-f', f.clean, '--filename', f.lossy], io)).toBe(1);
    expect(out.stdout).toBe('');
    expect(out.stderr).toContain(`ExternalSecret e2e-decoding/e2e-es (${f.lossy}#2): converted, 1 field(s) dropped:\n`);
    expect(out.stderr).toContain(
      '  dropped spec.dataFrom[0].extract.decodingStrategy: Auto (base64 if it decodes, else as is)',
    );
    expect(out.stderr).toContain('2 ExternalSecret(s): 2 converted, 0 not converted; 1 field(s) dropped\n');
    expect(out.stderr).toMatch(/nothing written .* --allow-dropped/);
  });

  it('--allow-dropped writes both, the losses as comments, to -o', async () => {
    const f = await files();
    const target = join(dir, 'out.yaml');
    const { out, io } = capture();
    expect(await runConvert(['-f', f.clean, '-f', f.lossy, '--allow-dropped', '-o', target], io)).toBe(0);
    expect(out.stdout).toBe('');
    const text = await readFile(target, 'utf8');
    expect(
      parseAllDocuments(text).map((d) => (d.toJS() as { metadata: { namespace: string } }).metadata.namespace),
    ).toEqual(['e2e-notarget', 'e2e-decoding']);
    expect(text).toContain('# dropped spec.dataFrom[0].extract.decodingStrategy: Auto');
  });

  it('reads stdin with -f -', async () => {
    const { out, io } = capture();
    const stdin = yamlOf(storeFor(store, clean.namespace), clean.externalSecret);
    expect(await runConvert(['-f', '-'], { ...io, readStdin: () => Promise.resolve(stdin) })).toBe(0);
    expect(out.stdout).toContain('kind: SecretSync');
    expect(out.stdout).toContain('(stdin#2)');
  });

  it('an ExternalSecret that cannot convert is named with why; exit 1', async () => {
    const token = join(ESO_FIXTURES, 'snippets', 'vault-token-store.yaml');
    const es = join(dir, 'es.yaml');
    await writeFile(
      es,
      yamlOf({
        apiVersion: 'external-secrets.io/v1',
        kind: 'ExternalSecret',
        metadata: { name: 'app', namespace: 'example' },
        spec: {
          secretStoreRef: { name: 'vault-backend' },
          data: [{ secretKey: 'a', remoteRef: { key: 'x', property: 'y' } }],
        },
      }),
    );
    const { out, io } = capture();
    expect(await runConvert(['-f', token, '-f', es], io)).toBe(1);
    expect(out.stderr).toContain(
      `ExternalSecret example/app (${es}#1): not converted: SecretStore vault-backend logs in with a static Vault token`,
    );
    expect(out.stderr).toContain('1 ExternalSecret(s): 0 converted, 1 not converted; 0 field(s) dropped');
  });

  it('bad input: unreadable file, YAML errors, no ExternalSecret; exit 1 with one line', async () => {
    const { out, io } = capture();
    expect(await runConvert(['-f', join(dir, 'missing.yaml')], io)).toBe(1);
    expect(out.stderr).toBe(`vaultsync convert: cannot read ${join(dir, 'missing.yaml')}: ENOENT\n`);
    const bad = join(dir, 'bad.yaml');
    await writeFile(bad, 'a: [1\n');
    out.stderr = '';
    expect(await runConvert(['-f', bad], io)).toBe(1);
    expect(out.stderr).toMatch(new RegExp(`^vaultsync convert: ${bad}#1: `));
    const empty = join(dir, 'empty.yaml');
    await writeFile(empty, yamlOf({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c' } }));
    out.stderr = '';
    expect(await runConvert(['-f', empty], io)).toBe(1);
    expect(out.stderr).toContain('skipped ConfigMap c');
    expect(out.stderr).toContain('no ExternalSecret in the input');
  });

  it("never prints a Secret's data given with the manifests (a token Secret beside its store)", async () => {
    const canary = 'canary-token-4b1e9d7c';
    const file = join(dir, 'with-secret.yaml');
    const secret = { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'vault-token', namespace: clean.namespace } };
    await writeFile(
      file,
      yamlOf(
        { ...secret, stringData: { token: canary } },
        { ...secret, data: { token: Buffer.from(canary).toString('base64') } },
        storeFor(store, clean.namespace),
        clean.externalSecret,
      ),
    );
    const { out, io } = capture();
    expect(await runConvert(['-f', file], io)).toBe(0);
    expect(out.stderr).toContain('skipped Secret vault-token');
    for (const text of [out.stdout, out.stderr]) {
      expect(text).not.toContain(canary);
      expect(text).not.toContain(Buffer.from(canary).toString('base64'));
    }
  });

  it('usage errors exit 2', async () => {
    for (const argv of [
      [],
      ['-f', 'a', '--from-cluster'],
      ['--namespace', 'x', '-f', 'a'],
      ['-f'],
      ['--bogus'],
      ['-f', '-', '-f', '-'],
    ]) {
      const { out, io } = capture();
      expect(await runConvert(argv, io)).toBe(2);
      expect(out.stderr).toMatch(/^vaultsync convert: .* \(see vaultsync convert --help\)\n$/);
    }
  });

  it('is a command of vaultsync, with --help', async () => {
    const { out, io } = capture();
    expect(await main(['convert', '--help'], { ...io, env: {} })).toBe(0);
    expect(out.stdout).toMatch(/^Usage: vaultsync convert -f <file>/);
    out.stdout = '';
    expect(await main(['--help'], { ...io, env: {} })).toBe(0);
    expect(out.stdout).toMatch(/convert +Convert External Secrets Operator manifests/);
  });
});
