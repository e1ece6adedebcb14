import { Type, type Static } from '@sinclair/typebox';

/**
 * The dynamic kinds of source item (issue #13): database credentials and PKI certificates. They
 * join the kinds of spec.sources[] in schema.ts; the sources that read them are sources/database.ts
 * and sources/pki.ts, and the lease model is docs/dynamic-secrets.md.
 */

// Go durations as CEL's duration() parses them (the same grammar as spec.refresh.interval).
const DURATION = '^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$';
const MOUNT = '^[^/](.*[^/])?$';
const ROLE = '^[^/]+$';

const duration = (description: string) =>
  Type.Optional(
    Type.String({
      description,
      maxLength: 32,
      pattern: DURATION,
      'x-kubernetes-validations': [{ rule: "duration(self) <= duration('8760h')", message: 'at most 8760h' }],
    }),
  );

const RENEW_BEFORE =
  'Issue new credentials this long before the current ones reach their hard limit (a lease at its max TTL, a certificate at its notAfter), so consumers can switch. Default: a third of the lifetime; at most half of it.';

export const DatabaseSourceSchema = Type.Object(
  {
    mount: Type.String({
      description: 'Mount of the database secrets engine. Default: database.',
      default: 'database',
      minLength: 1,
      maxLength: 256,
      pattern: MOUNT,
    }),
    role: Type.String({
      description: 'Database role: <mount>/creds/<role>.',
      minLength: 1,
      maxLength: 256,
      pattern: ROLE,
    }),
    static: Type.Optional(
      Type.Boolean({
        description:
          'A static role (<mount>/static-creds/<role>): Vault rotates one database user; read again after each rotation, nothing to renew or revoke. Default: false.',
      }),
    ),
    renewBefore: duration(RENEW_BEFORE),
  },
  {
    description:
      'Database credentials from the database secrets engine, as the keys username and password. Their lease is renewed, replaced before its max TTL and revoked when no longer needed (docs/dynamic-secrets.md).',
  },
);

const hostname = Type.String({ minLength: 1, maxLength: 253, pattern: '^[*A-Za-z0-9]([-*A-Za-z0-9.]*[A-Za-z0-9])?$' });

export const PkiSourceSchema = Type.Object(
  {
    mount: Type.String({
      description: 'Mount of the PKI secrets engine. Default: pki.',
      default: 'pki',
      minLength: 1,
      maxLength: 256,
      pattern: MOUNT,
    }),
    role: Type.String({ description: 'PKI role: <mount>/issue/<role>.', minLength: 1, maxLength: 256, pattern: ROLE }),
    commonName: Type.String({ description: 'Common name of the certificate.', minLength: 1, maxLength: 253 }),
    altNames: Type.Optional(Type.Array(hostname, { description: 'DNS subject alternative names.', maxItems: 64 })),
    ipSans: Type.Optional(
      Type.Array(Type.String({ minLength: 2, maxLength: 45, pattern: '^[0-9A-Fa-f:.]+$' }), {
        description: 'IP subject alternative names.',
        maxItems: 32,
      }),
    ),
    ttl: duration("Requested lifetime of the certificate. Default: the PKI role's."),
    renewBefore: duration(RENEW_BEFORE),
  },
  {
    description:
      'A certificate from the PKI secrets engine, as the keys tls.crt (leaf and chain), tls.key and ca.crt; a new key pair at every issue, issued again before it expires (use target.type kubernetes.io/tls).',
  },
);

export type DatabaseSource = Static<typeof DatabaseSourceSchema>;
export type PkiSource = Static<typeof PkiSourceSchema>;
