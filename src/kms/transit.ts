/**
 * Vault Transit for one named key: encrypt and decrypt the apiserver's DEK seeds. The KEK never
 * leaves Vault; what the plugin sees is Transit ciphertext ("vault:v3:..."), whose version part
 * becomes the key_id the apiserver stores beside each object.
 */
import { KmsError } from './errors.js';
import { statusError, vaultErrors, type VaultAnswer, type VaultTransport } from './vault-http.js';

export interface TokenProvider {
  token(signal: AbortSignal): Promise<string>;
  invalidate(token: string): void;
}

export interface TransitKey {
  mount: string;
  name: string;
}

/**
 * The key_id of a Transit key version, e.g. "vault-transit:transit/kubernetes:v3". The apiserver
 * compares it between Status and Encrypt, stores it with every object (in plain text), and marks
 * objects stored under another key_id as stale, so a rotation in Vault changes it.
 */
export function keyIdOf(key: TransitKey, version: number): string {
  return `vault-transit:${key.mount}/${key.name}:v${version}`;
}

/** The Transit key and version a key_id names, or undefined when it is not one of ours. */
export function parseKeyId(keyId: string): (TransitKey & { version: number }) | undefined {
  const m = /^vault-transit:(.+)\/([^/]+):v([0-9]+)$/.exec(keyId);
  if (m === null) return undefined;
  return { mount: m[1] ?? '', name: m[2] ?? '', version: Number(m[3]) };
}

const CIPHERTEXT = /^vault:v([0-9]+):[A-Za-z0-9+/]+={0,2}$/;

/** The key version of a Transit ciphertext, or undefined when it is not one. */
export function versionOf(ciphertext: string): number | undefined {
  const m = CIPHERTEXT.exec(ciphertext);
  return m === null ? undefined : Number(m[1]);
}

export class Transit {
  constructor(
    private readonly vault: VaultTransport,
    private readonly tokens: TokenProvider,
    readonly key: TransitKey,
  ) {}

  async encrypt(plaintext: Uint8Array, signal: AbortSignal): Promise<{ ciphertext: string; version: number }> {
    const answer = await this.#call('encrypt', { plaintext: Buffer.from(plaintext).toString('base64') }, signal);
    const ciphertext = (answer.body as { data?: { ciphertext?: unknown } } | undefined)?.data?.ciphertext;
    const version = typeof ciphertext === 'string' ? versionOf(ciphertext) : undefined;
    if (typeof ciphertext !== 'string' || version === undefined) {
      throw new KmsError('BadVaultAnswer', `Transit encrypt with ${this.#name()} returned no ciphertext`);
    }
    return { ciphertext, version };
  }

  async decrypt(ciphertext: string, signal: AbortSignal): Promise<Uint8Array> {
    if (versionOf(ciphertext) === undefined) {
      throw new KmsError('InvalidRequest', 'the ciphertext is not Transit ciphertext written by this plugin');
    }
    const answer = await this.#call('decrypt', { ciphertext }, signal);
    const plaintext = (answer.body as { data?: { plaintext?: unknown } } | undefined)?.data?.plaintext;
    if (typeof plaintext !== 'string') {
      throw new KmsError('BadVaultAnswer', `Transit decrypt with ${this.#name()} returned no plaintext`);
    }
    return Buffer.from(plaintext, 'base64');
  }

  /** One Transit call; a 403 drops the token and tries once more with a new one. */
  async #call(op: 'encrypt' | 'decrypt', body: Record<string, unknown>, signal: AbortSignal): Promise<VaultAnswer> {
    const path = `${this.key.mount}/${op}/${encodeURIComponent(this.key.name)}`;
    for (let attempt = 0; ; attempt++) {
      const token = await this.tokens.token(signal);
      const answer = await this.vault.send({ op, method: 'POST', path, token, body, signal });
      if (answer.status === 200) return answer;
      if (answer.status === 403 && attempt === 0) {
        this.tokens.invalidate(token);
        continue;
      }
      if (answer.status === 403) {
        throw new KmsError(
          'VaultForbidden',
          `Vault denied Transit ${op} with ${this.#name()}: the token's policy needs "update" on ${path}`,
        );
      }
      if (answer.status === 400 && op === 'decrypt') {
        throw new KmsError(
          'DecryptFailed',
          `Transit refused to decrypt with ${this.#name()}: ${vaultErrors(answer.body)}`,
        );
      }
      throw statusError(op, answer);
    }
  }

  #name(): string {
    return `key "${this.key.name}" at ${this.key.mount}/`;
  }
}
