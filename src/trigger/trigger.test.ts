/**
 * `vaultsync trigger` against a real webhook server on 127.0.0.1 (real HTTP, real fetch), so the
 * signing is proven end to end between our client and our server. Only sleeping is faked: it
 * advances the server's clock instead of waiting.
 */
import { createServer, type Server } from 'node:http';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { main } from '../cli.js';
import { recordingLogger } from '../core/testing/logger.js';
import { buildWebhookServer, createMetrics, createWebhook, PathIndex } from '../server/index.js';
import type { Key } from '../core/types.js';
import { runTrigger } from './trigger.js';

const KEY = 'canary-webhook-key-7f3a9c1e5b0d2e4f6a';
const TEAM_KEY = 'canary-team-a-key-0c8d2e4f6a1b3c5d7e';

let dir: string;
let app: FastifyInstance | undefined;
let raw: Server | undefined;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'vaultsync-trigger-'));
  await writeFile(join(dir, 'key'), `${KEY}\n`);
  await writeFile(join(dir, 'team-a'), TEAM_KEY);
});
afterEach(async () => {
  await app?.close();
  app = undefined;
  await new Promise((resolve) => (raw ? raw.close(resolve) : resolve(undefined)));
  raw = undefined;
  await rm(dir, { recursive: true, force: true });
});

interface ServeOptions {
  rateLimitPerMinute?: number;
  keyFile?: string;
  namespaceKeysDir?: string;
  maxSkewSeconds?: number;
}

async function serve(opts: ServeOptions = {}) {
  const clock = { t: Date.now(), now: () => clock.t };
  const index = new PathIndex();
  index.upsert('team-a/app', 'secret', 'myapp/config');
  index.upsert('team-b/app', 'secret', 'myapp/config');
  const pushes: Key[][] = [];
  const webhook = createWebhook({
    keyFile: opts.namespaceKeysDir ? undefined : (opts.keyFile ?? join(dir, 'key')),
    namespaceKeysDir: opts.namespaceKeysDir,
    rateLimitPerMinute: opts.rateLimitPerMinute ?? 100,
    coalesceWindowMs: 1000,
    index,
    target: { exists: (k) => k.startsWith('team-'), push: (k) => pushes.push([...k]) },
    metrics: createMetrics(undefined, { defaultMetrics: false }),
    clock,
    log: recordingLogger(),
    maxSkewSeconds: opts.maxSkewSeconds,
  });
  app = buildWebhookServer(webhook);
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  return { url, clock, pushes };
}

/** Runs the command with output captured and sleeps recorded (advancing `clock` when given). */
async function trigger(argv: string[], clock?: { t: number }, env: Record<string, string> = {}) {
  const out: string[] = [];
  const err: string[] = [];
  const sleeps: number[] = [];
  const code = await runTrigger(argv, {
    stdout: (s) => out.push(s),
    stderr: (s) => err.push(s),
    sleep: (ms) => {
      sleeps.push(ms);
      if (clock) clock.t += ms;
      return Promise.resolve();
    },
    ...(clock ? { now: () => clock.t } : {}),
    env,
  });
  const all = out.join('') + err.join('');
  expect(all, 'the key is never printed').not.toContain(KEY);
  expect(all).not.toContain(TEAM_KEY);
  return { code, stdout: out.join(''), stderr: err.join(''), sleeps };
}

const keyFile = () => ['--key-file', join(dir, 'key')];

describe('vaultsync trigger', () => {
  it('signs and sends; the server queues the SecretSyncs; prints the count', async () => {
    const { url, pushes } = await serve();
    const r = await trigger(['--url', url, ...keyFile(), '--path', 'secret/myapp/config']);
    expect(r).toMatchObject({ code: 0, stdout: 'queued 2 SecretSync(s)\n', stderr: '' });
    expect(pushes).toEqual([['team-a/app', 'team-b/app']]);
  });

  it('takes the URL, the key (or its file), paths and SecretSyncs from the environment; flags win', async () => {
    const { url, pushes } = await serve();
    const env = {
      VAULTSYNC_WEBHOOK_URL: url,
      VAULTSYNC_WEBHOOK_KEY: `${KEY}\n`,
      VAULTSYNC_TRIGGER_PATHS: 'secret/myapp/config, secret/x/y',
      VAULTSYNC_TRIGGER_RETRIES: '0',
    };
    expect(await trigger([], undefined, env)).toMatchObject({ code: 0, stdout: 'queued 2 SecretSync(s)\n' });
    // Flags win: any --path or --secret-sync replaces the targets of the environment; --url the URL.
    const r = await trigger(['--secret-sync=team-a/app', `--url=${url}`], undefined, {
      ...env,
      VAULTSYNC_WEBHOOK_URL: 'http://127.0.0.1:1',
    });
    expect(r.stdout).toBe('queued 1 SecretSync(s)\n');
    // A key file from the environment, used when no key is given; --key-file wins over the key.
    const { VAULTSYNC_WEBHOOK_KEY: _key, ...noKey } = env;
    expect((await trigger([], undefined, { ...noKey, VAULTSYNC_WEBHOOK_KEY_FILE: join(dir, 'key') })).code).toBe(0);
    const wrong = await trigger(['--key-file', join(dir, 'team-a')], undefined, env);
    expect(wrong.stderr).toContain('signature was refused');
    expect(pushes).toEqual([['team-a/app', 'team-b/app'], ['team-a/app'], ['team-a/app', 'team-b/app']]);
    // Missing: the message names the variables too; a short key from the environment is refused by name.
    expect((await trigger(['--path=a/b'], undefined, { VAULTSYNC_WEBHOOK_URL: url })).stderr).toContain(
      '--key-file, $VAULTSYNC_WEBHOOK_KEY or $VAULTSYNC_WEBHOOK_KEY_FILE is required',
    );
    const short = await trigger(['--path=a/b'], undefined, {
      VAULTSYNC_WEBHOOK_URL: url,
      VAULTSYNC_WEBHOOK_KEY: 'short',
    });
    expect(short).toMatchObject({ code: 1 });
    expect(short.stderr).toContain('cannot use $VAULTSYNC_WEBHOOK_KEY: the key is shorter than 32 bytes');
  });

  it('takes --secret-sync, a base URL with a path prefix or the full endpoint', async () => {
    const { url, pushes } = await serve();
    const r1 = await trigger([`--url=${url}/v1/refresh`, ...keyFile(), '--secret-sync', 'team-a/app']);
    expect(r1.stdout).toBe('queued 1 SecretSync(s)\n');
    const r2 = await trigger([`--url=${url}/`, ...keyFile(), '--secret-sync', 'team-b/app', '--path', 'secret/x/y']);
    expect(r2.code).toBe(0);
    expect(pushes).toEqual([['team-a/app'], ['team-b/app']]);
    // A prefix is kept: /vaultsync/v1/refresh does not exist on this server.
    const r3 = await trigger(['--url', `${url}/vaultsync`, ...keyFile(), '--path', 'secret/myapp/config']);
    expect(r3.code).toBe(1);
    expect(r3.stderr).toContain(`no webhook at ${url}/vaultsync/v1/refresh`);
  });

  it('fails at once, without retrying, when the signature is refused', async () => {
    const { url, pushes } = await serve();
    const r = await trigger(['--url', url, '--key-file', join(dir, 'team-a'), '--path', 'secret/myapp/config']);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      "vaultsync trigger: the signature was refused: check the key and this machine's clock (401): signature does not match any key\n",
    );
    expect(r.sleeps).toEqual([]);
    expect(pushes).toEqual([]);
  });

  it('reports a SecretSync outside the key’s namespace (403)', async () => {
    // A server with only the team-a namespace key.
    await mkdir(join(dir, 'ns'));
    await writeFile(join(dir, 'ns', 'team-a'), TEAM_KEY);
    const { url, clock, pushes } = await serve({ namespaceKeysDir: join(dir, 'ns') });
    const team = ['--url', url, '--key-file', join(dir, 'team-a')];
    expect((await trigger([...team, '--secret-sync', 'team-a/app'], clock)).code).toBe(0);
    const r = await trigger([...team, '--secret-sync', 'team-b/app'], clock);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      "vaultsync trigger: the key may not refresh a SecretSync named (it belongs to another namespace) (403): a SecretSync named is outside the key's namespace\n",
    );
    expect(pushes).toEqual([['team-a/app']]);
  });

  it('retries a 429, honouring Retry-After up to 30s, re-signing each attempt', async () => {
    // A 20s skew: a retry 30s later passes only with a fresh timestamp.
    const { url, clock, pushes } = await serve({ rateLimitPerMinute: 1, maxSkewSeconds: 20 });
    const args = ['--url', url, ...keyFile(), '--path', 'secret/myapp/config'];
    expect((await trigger(args, clock)).code).toBe(0);
    // The bucket refills in 60s: Retry-After 60 is capped at 30s, then 30s more.
    const r = await trigger(args, clock);
    expect(r.code).toBe(0);
    expect(r.sleeps).toEqual([30_000, 30_000]);
    expect(r.stderr).toContain('rate limited (429): too many requests; retry later; retrying in 30.0s');
    expect(pushes).toHaveLength(2);
  });

  it('retries server errors with backoff, then fails with the last reason', async () => {
    const { url, clock } = await serve({ keyFile: join(dir, 'missing') });
    const r = await trigger(['--url', url, ...keyFile(), '--path', 'secret/myapp/config', '--retries', '2'], clock);
    expect(r.code).toBe(1);
    expect(r.sleeps).toEqual([500, 1000]);
    expect(r.stderr.trim().split('\n').at(-1)).toBe(
      'vaultsync trigger: server error (503): the webhook has no usable key; see the controller log',
    );
  });

  it('retries a refused connection, then fails', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const r = await trigger(['--url', `http://127.0.0.1:${port}`, ...keyFile(), '--path', 'secret/a/b']);
    expect(r.code).toBe(1);
    expect(r.sleeps).toEqual([500, 1000, 2000]);
    expect(r.stderr).toContain(`vaultsync trigger: no answer from http://127.0.0.1:${port}/v1/refresh: ECONNREFUSED\n`);
  });

  it('gives up on a server that does not answer within --timeout', async () => {
    raw = createServer(() => undefined); // accepts, never answers
    await new Promise<void>((resolve) => raw?.listen(0, '127.0.0.1', resolve));
    const port = (raw.address() as AddressInfo).port;
    const r = await trigger([
      '--url',
      `http://127.0.0.1:${port}`,
      ...keyFile(),
      '--path',
      'secret/a/b',
      '--timeout',
      '200ms',
      '--retries',
      '0',
    ]);
    raw.closeAllConnections();
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      `vaultsync trigger: no answer from http://127.0.0.1:${port}/v1/refresh: timed out after 0.2s\n`,
    );
  });

  it.each([
    [['--key-file', 'k', '--path', 'secret/a/b'], '--url (or $VAULTSYNC_WEBHOOK_URL) is required'],
    [
      ['--url', 'http://x', '--path', 'secret/a/b'],
      '--key-file, $VAULTSYNC_WEBHOOK_KEY or $VAULTSYNC_WEBHOOK_KEY_FILE is required',
    ],
    [['--url', 'http://x', '--key-file', 'k'], 'name at least one --path or --secret-sync'],
    [['--url', 'ftp://x', '--key-file', 'k', '--path', 'secret/a/b'], '--url must be an http:// or https:// URL'],
    [['--url', 'http://x', '--key-file', 'k', '--path', 'config'], '--path[0] must be <mount>/<path>'],
    [['--url', 'http://x', '--key-file', 'k', '--secret-sync', 'app'], '--secret-sync[0] must be <namespace>/<name>'],
    [['--url', 'http://x', '--key-file', 'k', '--path', 'secret/a/b', '--retries', 'many'], '--retries'],
    [['--url', 'http://x', '--key-file', 'k', '--path', 'secret/a/b', '--timeout', 'soon'], 'not a duration'],
    [['--url', 'http://x', '--url', 'http://y', '--key-file', 'k', '--path', 'a/b'], 'given twice'],
    [['--bogus'], 'unknown flag --bogus'],
    [['--path'], 'flag --path needs a value'],
  ])('usage error %j → exit 2', async (argv, message) => {
    const r = await trigger(argv);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(message);
    expect(r.stderr.trim()).not.toContain('\n');
  });

  it.each([
    ['missing', undefined, 'ENOENT'],
    ['empty', '\n\n', 'it is empty'],
    ['short', 'abc\n', 'shorter than 32 bytes'],
  ])('refuses a %s key file with exit 1', async (name, content, message) => {
    if (content !== undefined) await writeFile(join(dir, name), content);
    const r = await trigger(['--url', 'http://127.0.0.1:1', '--key-file', join(dir, name), '--path', 'secret/a/b']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(message);
  });

  it('is a vaultsync command with its own help', async () => {
    const out: string[] = [];
    const io = { env: {}, stdout: (s: string) => out.push(s), stderr: (s: string) => out.push(s) };
    expect(await main(['trigger', '--help'], io)).toBe(0);
    for (const flag of ['--url', '--key-file', '--path', '--secret-sync', '--timeout', '--retries']) {
      expect(out.join('')).toContain(flag);
    }
    out.length = 0;
    expect(await main(['--help'], io)).toBe(0);
    expect(out.join('')).toContain('trigger');
    expect(await main(['trigger'], io)).toBe(2);
  });
});
