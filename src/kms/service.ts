/**
 * The KMS v2 operations, independent of gRPC: Status (a real Transit round trip, cached briefly),
 * Encrypt and Decrypt of the apiserver's DEK seeds. Every call finishes before the caller's
 * deadline and before the plugin's own budget, whichever is first, so the apiserver (whose KMS
 * timeout defaults to 3 s) gets an answer instead of its own timeout.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { asKmsError, KmsError } from './errors.js';
import { keyIdOf, parseKeyId, type TransitKey } from './transit.js';
import type { KmsLogger, Timers } from './types.js';

export interface TransitOps {
  readonly key: TransitKey;
  encrypt(plaintext: Uint8Array, signal: AbortSignal): Promise<{ ciphertext: string; version: number }>;
  decrypt(ciphertext: string, signal: AbortSignal): Promise<Uint8Array>;
}

export interface KmsServiceOptions {
  /** Budget of one RPC, all its Vault calls included; kept under the apiserver's KMS timeout. */
  rpcTimeoutMs: number;
  /** How long a healthy Status answer is reused. */
  statusCacheMs: number;
  /** How long an unhealthy one is reused (short: recovery should be seen quickly). */
  statusFailCacheMs: number;
}

export interface KmsServiceDeps {
  transit: TransitOps;
  timers: Timers;
  log: KmsLogger;
  onHealth?: (ok: boolean) => void;
  onKeyVersion?: (version: number) => void;
}

export interface StatusAnswer {
  version: 'v2';
  /** "ok", or why not: the apiserver shows it in /healthz/kms-providers. */
  healthz: string;
  keyId: string;
}

/** The apiserver sends 32-byte DEK seeds; the answer must stay under 1 kB of ciphertext. */
export const MAX_PLAINTEXT_BYTES = 512;
/** Kept back from the caller's deadline so the answer can still reach it. */
const DEADLINE_MARGIN_MS = 100;

export class KmsService {
  #version: number | undefined;
  #status: { answer: StatusAnswer; until: number } | undefined;
  #probing: Promise<StatusAnswer> | undefined;
  #healthy: boolean | undefined;

  constructor(
    private readonly deps: KmsServiceDeps,
    private readonly opts: KmsServiceOptions,
  ) {}

  /** Never throws: a failure is a healthz text other than "ok". */
  async status(deadline?: number): Promise<StatusAnswer> {
    const cached = this.#status;
    if (cached !== undefined && this.deps.timers.now() < cached.until) return cached.answer;
    // Concurrent Status calls (several apiservers, healthz) share one probe.
    this.#probing ??= this.#probe(deadline).finally(() => {
      this.#probing = undefined;
    });
    return this.#probing;
  }

  async encrypt(plaintext: Uint8Array, deadline?: number): Promise<{ ciphertext: Buffer; keyId: string }> {
    if (plaintext.length === 0 || plaintext.length > MAX_PLAINTEXT_BYTES) {
      throw new KmsError(
        'InvalidRequest',
        `plaintext must be 1 to ${MAX_PLAINTEXT_BYTES} bytes, got ${plaintext.length}`,
      );
    }
    const { ciphertext, version } = await this.deps.transit.encrypt(plaintext, this.#signal(deadline));
    this.#sawVersion(version);
    return { ciphertext: Buffer.from(ciphertext, 'utf8'), keyId: keyIdOf(this.deps.transit.key, version) };
  }

  async decrypt(ciphertext: Uint8Array, keyId: string, deadline?: number): Promise<Uint8Array> {
    const named = parseKeyId(keyId);
    const key = this.deps.transit.key;
    if (named !== undefined && (named.mount !== key.mount || named.name !== key.name)) {
      throw new KmsError(
        'KeyMismatch',
        `the data was encrypted with Transit key "${named.name}" at ${named.mount}/, but this plugin uses "${key.name}" at ${key.mount}/`,
      );
    }
    if (ciphertext.length === 0 || ciphertext.length > 1024) {
      throw new KmsError('InvalidRequest', `ciphertext must be 1 to 1024 bytes, got ${ciphertext.length}`);
    }
    return this.deps.transit.decrypt(Buffer.from(ciphertext).toString('utf8'), this.#signal(deadline));
  }

  async #probe(deadline: number | undefined): Promise<StatusAnswer> {
    let answer: StatusAnswer;
    try {
      const signal = this.#signal(deadline);
      const probe = randomBytes(32);
      const { ciphertext, version } = await this.deps.transit.encrypt(probe, signal);
      const back = await this.deps.transit.decrypt(ciphertext, signal);
      if (back.length !== probe.length || !timingSafeEqual(back, probe)) {
        throw new KmsError('BadVaultAnswer', 'Transit decrypt did not return what was encrypted');
      }
      this.#sawVersion(version);
      answer = { version: 'v2', healthz: 'ok', keyId: keyIdOf(this.deps.transit.key, version) };
    } catch (err) {
      const e = asKmsError(err);
      answer = { version: 'v2', healthz: `${e.reason}: ${e.message}`, keyId: this.#lastKeyId() };
    }
    const ok = answer.healthz === 'ok';
    const ttl = ok ? this.opts.statusCacheMs : this.opts.statusFailCacheMs;
    this.#status = { answer, until: this.deps.timers.now() + ttl };
    if (ok !== this.#healthy) {
      if (ok) this.deps.log.info({ keyId: answer.keyId }, 'Transit round trip ok: healthy');
      else this.deps.log.warn({ healthz: answer.healthz }, 'Transit round trip failed: unhealthy');
      this.#healthy = ok;
      this.deps.onHealth?.(ok);
    }
    return answer;
  }

  /** Status must name a key even when unhealthy; the apiserver ignores it then. */
  #lastKeyId(): string {
    return this.#version === undefined ? 'vault-transit:unknown' : keyIdOf(this.deps.transit.key, this.#version);
  }

  #sawVersion(version: number): void {
    if (version === this.#version) return;
    if (this.#version !== undefined) {
      this.deps.log.info({ from: this.#version, to: version }, 'Transit key version changed');
    }
    this.#version = version;
    this.deps.onKeyVersion?.(version);
  }

  #signal(deadline: number | undefined): AbortSignal {
    const own = this.opts.rpcTimeoutMs;
    const left = deadline === undefined ? own : Math.min(own, deadline - this.deps.timers.now() - DEADLINE_MARGIN_MS);
    if (left <= 0) throw new KmsError('DeadlineExceeded', 'the caller’s deadline leaves no time for Vault');
    return AbortSignal.timeout(left);
  }
}
