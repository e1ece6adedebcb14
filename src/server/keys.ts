/**
 * The webhook's shared keys: a global key file and a directory of per-namespace key files (a
 * mounted Secret with one entry per namespace). Files are re-read at most every `reloadMs`, so a
 * rotated key needs no restart. A file may hold several keys, one per line (any of them is
 * accepted), which lets a key be rotated without a window in which clients fail.
 *
 * Fails closed: a file that cannot be read, or a key shorter than MIN_KEY_LENGTH bytes, contributes
 * no key; it is never replaced by an older one, so deleting a leaked key takes effect at the next
 * reload.
 */
import { readdir as fsReaddir, readFile as fsReadFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Clock, Logger } from '../core/types.js';

/** Bytes (UTF-8) of the shortest key accepted: `openssl rand -hex 32` makes one of 64. */
export const MIN_KEY_LENGTH = 32;

export const DEFAULT_KEY_RELOAD_MS = 2_000;

const NAMESPACE = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

export interface KeySet {
  /** Keys that may refresh any SecretSync. */
  global: Buffer[];
  /** Keys that may refresh SecretSyncs of one namespace only. */
  namespaces: Map<string, Buffer[]>;
}

export interface KeyFs {
  readFile(path: string): Promise<string>;
  readdir(path: string): Promise<string[]>;
}

export interface WebhookKeysOptions {
  keyFile?: string;
  namespaceKeysDir?: string;
  reloadMs?: number;
  clock: Clock;
  log: Logger;
  fs?: KeyFs;
}

/** Where the webhook gets its keys; the route is disabled when none is configured. */
export interface KeyProvider {
  configured(): boolean;
  /** The keys now, re-read when older than the reload interval. Empty sets when nothing could be read. */
  current(): Promise<KeySet>;
}

const nodeFs: KeyFs = {
  readFile: (p) => fsReadFile(p, 'utf8'),
  readdir: (p) => fsReaddir(p),
};

export class WebhookKeys implements KeyProvider {
  readonly #opts: WebhookKeysOptions;
  readonly #fs: KeyFs;
  #loaded: { at: number; keys: KeySet } | undefined;
  #loading: Promise<KeySet> | undefined;
  /** Problems reported at the last load: logged again only when they change. */
  #lastProblems = '';

  constructor(opts: WebhookKeysOptions) {
    this.#opts = opts;
    this.#fs = opts.fs ?? nodeFs;
  }

  configured(): boolean {
    return Boolean(this.#opts.keyFile) || Boolean(this.#opts.namespaceKeysDir);
  }

  current(): Promise<KeySet> {
    const now = this.#opts.clock.now();
    const fresh = this.#loaded && now - this.#loaded.at < (this.#opts.reloadMs ?? DEFAULT_KEY_RELOAD_MS);
    if (fresh && this.#loaded) return Promise.resolve(this.#loaded.keys);
    // One reload at a time; concurrent requests wait for the same one.
    this.#loading ??= this.#load(now).finally(() => {
      this.#loading = undefined;
    });
    return this.#loading;
  }

  async #load(now: number): Promise<KeySet> {
    const problems: string[] = [];
    const keys: KeySet = { global: [], namespaces: new Map() };
    const { keyFile, namespaceKeysDir } = this.#opts;
    if (keyFile) keys.global = await this.#readKeys(keyFile, 'key file', problems);
    if (namespaceKeysDir) {
      let names: string[] = [];
      try {
        names = await this.#fs.readdir(namespaceKeysDir);
      } catch (err) {
        problems.push(`namespace keys directory ${namespaceKeysDir}: ${errorCode(err)}`);
      }
      // Kubernetes Secret volumes also hold ..data and timestamped directories: skip dot names.
      for (const name of names.filter((n) => NAMESPACE.test(n)).sort()) {
        const found = await this.#readKeys(join(namespaceKeysDir, name), `namespace ${name} key`, problems);
        if (found.length > 0) keys.namespaces.set(name, found);
      }
    }
    const summary = problems.join('; ');
    if (summary !== this.#lastProblems) {
      if (summary) this.#opts.log.error({ problems }, 'webhook keys: some keys are unusable and are not accepted');
      else this.#opts.log.info({}, 'webhook keys: all keys loaded');
      this.#lastProblems = summary;
    }
    this.#loaded = { at: now, keys };
    return keys;
  }

  async #readKeys(path: string, what: string, problems: string[]): Promise<Buffer[]> {
    let text: string;
    try {
      text = await this.#fs.readFile(path);
    } catch (err) {
      // A subdirectory in the namespace directory is not a key; say nothing about it.
      if ((err as NodeJS.ErrnoException).code !== 'EISDIR') problems.push(`${what} ${path}: ${errorCode(err)}`);
      return [];
    }
    const lines = text
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '');
    const keys = lines.map((l) => Buffer.from(l, 'utf8'));
    const short = keys.filter((k) => k.length < MIN_KEY_LENGTH).length;
    if (short > 0) {
      problems.push(
        `${what} ${path}: ${short} key(s) shorter than ${MIN_KEY_LENGTH} bytes ignored (make one with: openssl rand -hex 32)`,
      );
    }
    if (lines.length === 0) problems.push(`${what} ${path}: empty`);
    return keys.filter((k) => k.length >= MIN_KEY_LENGTH);
  }
}

function errorCode(err: unknown): string {
  return (err as NodeJS.ErrnoException).code ?? 'unreadable';
}
