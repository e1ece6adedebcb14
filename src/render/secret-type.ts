import { SyncError } from '../errors.js';

/*
 * Required keys of the built-in Secret types, checked before writing (docs/rendering.md): the API
 * server would refuse some of these Secrets with a message that names no SecretSync, and would
 * accept others (a kubernetes.io/tls Secret whose key is not PEM) that break their consumers.
 * Messages name keys, never values.
 */

const PEM_BLOCK = /-----BEGIN [A-Z0-9 ]+-----[\s\S]*?-----END [A-Z0-9 ]+-----/;

export function checkSecretType(type: string, values: ReadonlyMap<string, Buffer>): void {
  const need = (keys: string[], how: string) => {
    const missing = keys.filter((k) => !values.has(k));
    if (missing.length > 0) {
      // Not terminal: the keys may come from Vault (allKeys), which may gain them.
      throw new SyncError(
        'InvalidSpec',
        `a Secret of type ${type} needs the key${missing.length > 1 ? 's' : ''} ${missing.join(', ')}${how}: produce ${missing.length > 1 ? 'them' : 'it'} with data, allKeys or spec.template`,
        { terminal: false },
      );
    }
  };
  const text = (k: string) => values.get(k)?.toString('utf8') ?? '';
  switch (type) {
    case 'kubernetes.io/dockerconfigjson': {
      need(['.dockerconfigjson'], '');
      let parsed: unknown;
      try {
        parsed = JSON.parse(text('.dockerconfigjson'));
      } catch {
        throw bad(type, '.dockerconfigjson is not valid JSON');
      }
      const auths = (parsed as { auths?: unknown } | null)?.auths;
      if (
        typeof parsed !== 'object' ||
        parsed === null ||
        typeof auths !== 'object' ||
        auths === null ||
        Array.isArray(auths)
      ) {
        throw bad(type, '.dockerconfigjson has no "auths" object');
      }
      return;
    }
    case 'kubernetes.io/tls':
      need(['tls.crt', 'tls.key'], '');
      if (!/-----BEGIN CERTIFICATE-----/.test(text('tls.crt')) || !PEM_BLOCK.test(text('tls.crt'))) {
        throw bad(type, 'tls.crt is not a PEM certificate (-----BEGIN CERTIFICATE----- ... -----END CERTIFICATE-----)');
      }
      if (!/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(text('tls.key')) || !PEM_BLOCK.test(text('tls.key'))) {
        throw bad(type, 'tls.key is not a PEM private key (-----BEGIN ... PRIVATE KEY-----)');
      }
      return;
    case 'kubernetes.io/basic-auth':
      if (!values.has('username') && !values.has('password')) need(['username', 'password'], ' (at least one)');
      return;
    case 'kubernetes.io/ssh-auth':
      need(['ssh-privatekey'], '');
      return;
    default:
      return;
  }
}

const bad = (type: string, what: string) =>
  new SyncError(
    'BadVaultData',
    `the Secret cannot be of type ${type}: ${what}; fix the value in Vault or the template`,
  );
