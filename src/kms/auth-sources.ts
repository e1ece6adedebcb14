/**
 * Where the plugin's Vault token comes from. The plugin runs beside the apiserver (a static pod or
 * a systemd unit on a control-plane node), before any ServiceAccount token can exist, so it uses
 * one of: a token file (written by an operator or a Vault Agent), AppRole, or a TLS client
 * certificate. Every source answers with a lease; TokenManager renews it.
 */
import { KmsError } from './errors.js';
import { statusError, vaultErrors, type VaultAnswer, type VaultTransport } from './vault-http.js';

export interface Lease {
  token: string;
  /** 0: the token does not expire (a periodic or root token: see docs/kms.md for why not root). */
  ttlMs: number;
  renewable: boolean;
}

export type AuthMethod = 'token-file' | 'approle' | 'cert';

export interface TokenSource {
  readonly method: AuthMethod;
  /** A usable token now: reads the file again, or logs in again. */
  obtain(signal: AbortSignal): Promise<Lease>;
}

export type ReadFile = (path: string) => Promise<string>;

/** A token from a file, looked up to learn its TTL; re-read whenever a new token is needed. */
export function tokenFileSource(o: { file: string; readFile: ReadFile; vault: VaultTransport }): TokenSource {
  return {
    method: 'token-file',
    async obtain(signal) {
      let token: string;
      try {
        token = (await o.readFile(o.file)).trim();
      } catch (err) {
        const code = (err as { code?: unknown }).code;
        throw new KmsError(
          'VaultAuthFailed',
          `cannot read the Vault token file ${o.file}: ${typeof code === 'string' ? code : 'read failed'}`,
        );
      }
      if (token === '') throw new KmsError('VaultAuthFailed', `the Vault token file ${o.file} is empty`);
      const answer = await o.vault.send({
        op: 'lookup',
        method: 'GET',
        path: 'auth/token/lookup-self',
        token,
        signal,
      });
      if (answer.status === 403 || answer.status === 401) {
        throw new KmsError('VaultAuthFailed', `Vault refused the token in ${o.file} (expired or revoked?)`);
      }
      if (answer.status !== 200) throw statusError('lookup', answer);
      const data = (answer.body as { data?: { ttl?: unknown; renewable?: unknown } } | undefined)?.data;
      if (typeof data?.ttl !== 'number') throw new KmsError('BadVaultAnswer', 'token lookup-self returned no ttl');
      return { token, ttlMs: data.ttl * 1000, renewable: data.renewable === true };
    },
  };
}

/** AppRole login with a role_id and a secret_id, each read from a file at every login. */
export function appRoleSource(o: {
  mount: string;
  roleIdFile: string;
  secretIdFile: string;
  readFile: ReadFile;
  vault: VaultTransport;
}): TokenSource {
  return {
    method: 'approle',
    async obtain(signal) {
      const [roleId, secretId] = await Promise.all([
        readId(o.readFile, o.roleIdFile),
        readId(o.readFile, o.secretIdFile),
      ]);
      const answer = await o.vault.send({
        op: 'login',
        method: 'POST',
        path: `auth/${o.mount}/login`,
        body: { role_id: roleId, secret_id: secretId },
        signal,
      });
      return leaseFromLogin('approle', o.mount, answer);
    },
  };
}

/** TLS-certificate login: the client certificate is presented by the transport on every connection. */
export function certSource(o: { mount: string; role?: string; vault: VaultTransport }): TokenSource {
  return {
    method: 'cert',
    async obtain(signal) {
      const answer = await o.vault.send({
        op: 'login',
        method: 'POST',
        path: `auth/${o.mount}/login`,
        body: o.role === undefined ? {} : { name: o.role },
        signal,
      });
      return leaseFromLogin('cert', o.mount, answer);
    },
  };
}

async function readId(readFile: ReadFile, file: string): Promise<string> {
  let text: string;
  try {
    text = (await readFile(file)).trim();
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    throw new KmsError('VaultAuthFailed', `cannot read ${file}: ${typeof code === 'string' ? code : 'read failed'}`);
  }
  if (text === '') throw new KmsError('VaultAuthFailed', `${file} is empty`);
  return text;
}

function leaseFromLogin(method: AuthMethod, mount: string, answer: VaultAnswer): Lease {
  if (answer.status === 400 || answer.status === 401 || answer.status === 403) {
    throw new KmsError(
      'VaultAuthFailed',
      `Vault refused the ${method} login at auth/${mount} (HTTP ${answer.status}): ${vaultErrors(answer.body)}`,
    );
  }
  if (answer.status !== 200) throw statusError('login', answer);
  return leaseFrom(answer.body, `${method} login`);
}

/** The `auth` block of a login or renew-self answer. */
export function leaseFrom(body: unknown, what: string): Lease {
  const auth = (
    body as { auth?: { client_token?: unknown; lease_duration?: unknown; renewable?: unknown } } | undefined
  )?.auth;
  if (typeof auth?.client_token !== 'string' || auth.client_token === '' || typeof auth.lease_duration !== 'number') {
    throw new KmsError('BadVaultAnswer', `Vault's answer to the ${what} has no token or lease duration`);
  }
  return { token: auth.client_token, ttlMs: auth.lease_duration * 1000, renewable: auth.renewable === true };
}
