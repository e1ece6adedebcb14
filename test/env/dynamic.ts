/**
 * Dynamic secrets in the test environment: a real PostgreSQL behind OpenBao's built-in
 * postgresql-database-plugin (mount `database/`, connection `pg`), and a PKI mount `pki/` with a
 * root CA generated inside OpenBao. Used by test/e2e/dynamic*.test.ts, the demo and bench/.
 */
import { call, must, waitFor } from './http.js';
import { Postgres } from './postgres.js';
import type { TestEnv } from './testenv.js';

export const DB_MOUNT = 'database';
export const DB_CONNECTION = 'pg';
export const PKI_MOUNT = 'pki';
export const PKI_DOMAIN = 'example.test';

/** The statements of a dynamic role: a login role valid until the lease's end, allowed to connect. */
export const CREATION_STATEMENTS = [
  `CREATE ROLE "{{name}}" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';`,
  `GRANT CONNECT ON DATABASE postgres TO "{{name}}";`,
];

/** Starts PostgreSQL (stopped with the environment) and configures OpenBao's database engine against it. */
export async function setupDatabase(env: TestEnv): Promise<Postgres> {
  const pg = await Postgres.start(env.dir, env.logDir);
  env.onStop(() => pg.stop());
  await must(env.vault, 'POST', `/v1/sys/mounts/${DB_MOUNT}`, { type: 'database' });
  await configureConnection(env, pg);
  return pg;
}

/** (Re)writes the connection `pg` of the database mount; `verify` checks that OpenBao can log in. */
export async function configureConnection(env: TestEnv, pg: Postgres, verify = true): Promise<void> {
  await must(env.vault, 'POST', `/v1/${DB_MOUNT}/config/${DB_CONNECTION}`, {
    plugin_name: 'postgresql-database-plugin',
    connection_url: pg.connectionUrl,
    username: pg.superuser,
    password: pg.password,
    allowed_roles: '*',
    verify_connection: verify,
    max_open_connections: 4,
  });
}

/** A dynamic role of the database mount with the given TTLs (Go durations or seconds). */
export async function databaseRole(
  env: TestEnv,
  name: string,
  o: { defaultTtl: string; maxTtl: string },
): Promise<void> {
  await must(env.vault, 'POST', `/v1/${DB_MOUNT}/roles/${name}`, {
    db_name: DB_CONNECTION,
    creation_statements: CREATION_STATEMENTS,
    default_ttl: o.defaultTtl,
    max_ttl: o.maxTtl,
  });
}

export async function deleteDatabaseRole(env: TestEnv, name: string): Promise<void> {
  await must(env.vault, 'DELETE', `/v1/${DB_MOUNT}/roles/${name}`);
}

/** A Vault policy for a tenant role: read creds of `roles`, renew and revoke its own leases only. */
export function databasePolicy(roles: string[]): string {
  return roles
    .map(
      (r) => `path "${DB_MOUNT}/creds/${r}" { capabilities = ["read"] }
path "sys/leases/renew/${DB_MOUNT}/creds/${r}/*" { capabilities = ["update"] }
path "sys/leases/revoke/${DB_MOUNT}/creds/${r}/*" { capabilities = ["update"] }`,
    )
    .join('\n');
}

/** Lease ids OpenBao holds under `prefix` (e.g. `database/creds/app/`), through sys/leases/lookup. */
export async function outstandingLeases(env: TestEnv, prefix: string): Promise<string[]> {
  const r = await call<{ data?: { keys?: string[] } }>(env.vault, 'LIST', `/v1/sys/leases/lookup/${prefix}`);
  if (r.status === 404) return [];
  if (r.status !== 200) throw new Error(`LIST sys/leases/lookup/${prefix}: HTTP ${r.status}: ${r.text.slice(0, 300)}`);
  return (r.body.data?.keys ?? []).map((k) => `${prefix}${k}`);
}

/** sys/leases/lookup of one lease: its expire time and TTL, or undefined when OpenBao no longer holds it. */
export async function lookupLease(
  env: TestEnv,
  leaseId: string,
): Promise<{ expireTime: string; ttl: number; renewable: boolean; lastRenewal: string | null } | undefined> {
  const r = await call<{ data: { expire_time: string; ttl: number; renewable: boolean; last_renewal: string | null } }>(
    env.vault,
    'PUT',
    '/v1/sys/leases/lookup',
    { lease_id: leaseId },
  );
  if (r.status === 400 || r.status === 404) return undefined;
  if (r.status !== 200) throw new Error(`sys/leases/lookup: HTTP ${r.status}: ${r.text.slice(0, 300)}`);
  const d = r.body.data;
  return { expireTime: d.expire_time, ttl: d.ttl, renewable: d.renewable, lastRenewal: d.last_renewal };
}

export interface PkiSetup {
  /** PEM of the root CA generated in OpenBao. */
  rootPem: string;
}

/** Mounts PKI with a root CA generated inside OpenBao and a role for `*.example.test` and IP SANs. */
export async function setupPki(env: TestEnv, o: { maxTtl?: string } = {}): Promise<PkiSetup> {
  await must(env.vault, 'POST', `/v1/sys/mounts/${PKI_MOUNT}`, { type: 'pki', config: { max_lease_ttl: '87600h' } });
  const root = await must<{ data: { certificate: string } }>(
    env.vault,
    'POST',
    `/v1/${PKI_MOUNT}/root/generate/internal`,
    { common_name: 'vaultsync test root CA', ttl: '87600h', key_type: 'ec', key_bits: 256 },
  );
  await pkiRole(env, 'web', { maxTtl: o.maxTtl ?? '24h' });
  await waitFor('pki ready', async () => (await call(env.vault, 'GET', `/v1/${PKI_MOUNT}/ca/pem`)).status === 200);
  return { rootPem: root.body.data.certificate };
}

export async function pkiRole(env: TestEnv, name: string, o: { maxTtl: string }): Promise<void> {
  await must(env.vault, 'POST', `/v1/${PKI_MOUNT}/roles/${name}`, {
    allowed_domains: [PKI_DOMAIN],
    allow_subdomains: true,
    allow_ip_sans: true,
    key_type: 'ec',
    key_bits: 256,
    max_ttl: o.maxTtl,
    no_store: true,
  });
}

export function pkiPolicy(roles: string[]): string {
  return roles.map((r) => `path "${PKI_MOUNT}/issue/${r}" { capabilities = ["update"] }`).join('\n');
}
