/**
 * An ESO SecretStore or ClusterSecretStore with the `vault` provider → the `spec.vault` and
 * `spec.auth` of a SecretSync. Only KV v2 read with the Kubernetes auth method converts; the rest
 * is listed as dropped, with why.
 */
import { VAULT_ADDRESS_PATTERN } from '../api/index.js';
import { Fields, type Drop } from './fields.js';
import type { Manifest } from './manifests.js';

export interface StoreMapping {
  vault: { address?: string; namespace?: string; caBundle?: string };
  /** The KV mount (the store's `path`); absent: the first segment of each remoteRef.key. */
  mount?: string;
  auth: { kubernetes: KubernetesAuth };
  dropped: Drop[];
}

export interface KubernetesAuth {
  mount?: string;
  role: string;
  serviceAccountName?: string;
  audiences?: string[];
}

export type StoreResult = { ok: true; value: StoreMapping } | { ok: false; why: string };

export interface StoreOptions {
  /** The controller's own --vault-address: a store with this server gets no spec.vault.address. */
  controllerAddress?: string | undefined;
}

const V = 'spec.provider.vault';
const OTHER_AUTH: Record<string, string> = {
  tokenSecretRef: 'a static Vault token',
  appRole: 'AppRole',
  ldap: 'LDAP',
  userPass: 'userpass',
  jwt: 'JWT/OIDC',
  cert: 'TLS certificates',
  iam: 'AWS IAM',
};

/**
 * Maps one store as seen from an ExternalSecret in `namespace`. Fails (no SecretSync can be
 * written) when the store is not Vault, is KV v1, or logs in other than with Kubernetes auth.
 */
export function mapStore(store: Manifest, namespace: string | undefined, opts: StoreOptions = {}): StoreResult {
  const label = `${store.kind} ${store.name}: `;
  const f = new Fields(store.raw, label);
  const providers = Object.keys(asObject(f.get('spec.provider')));
  if (!providers.includes('vault')) {
    return {
      ok: false,
      why: `${store.kind} ${store.name} uses the ${providers.join(', ') || 'no'} provider; only vault converts`,
    };
  }
  const version = f.str(`${V}.version`) ?? 'v2';
  if (version !== 'v2') {
    return { ok: false, why: `${store.kind} ${store.name} reads KV ${version}; vaultsync reads KV v2 only` };
  }

  const vault: StoreMapping['vault'] = {};
  const server = f.str(`${V}.server`);
  if (server !== undefined) {
    const bare = server.replace(/\/+$/, '');
    if (!new RegExp(VAULT_ADDRESS_PATTERN).test(server)) {
      f.drop(
        `${V}.server`,
        'spec.vault.address takes only scheme://host[:port]; give the path-less address to the controller',
      );
    } else if (opts.controllerAddress === undefined || bare !== opts.controllerAddress.replace(/\/+$/, '')) {
      vault.address = bare;
    }
  }
  const vaultNamespace = f.str(`${V}.namespace`);
  if (vaultNamespace !== undefined) vault.namespace = vaultNamespace.replace(/^\/+|\/+$/g, '');
  const authNamespace = f.str(`${V}.auth.namespace`);
  if (authNamespace !== undefined && authNamespace !== vaultNamespace) {
    f.drop(`${V}.auth.namespace`, 'vaultsync logs in and reads in the same Vault namespace (spec.vault.namespace)');
  }
  const ca = f.str(`${V}.caBundle`);
  if (ca !== undefined) {
    const pem = Buffer.from(ca, 'base64').toString('utf8');
    if (pem.includes('-----BEGIN CERTIFICATE-----')) vault.caBundle = pem;
    else f.drop(`${V}.caBundle`, 'not base64 of PEM certificates');
  }
  f.drop(
    `${V}.caProvider`,
    "a CA from a Secret or ConfigMap is the controller's (Helm vaultCA.secret / vaultCA.configMap), not per SecretSync",
  );
  f.drop(`${V}.tls`, 'client certificates (mTLS) to Vault are not supported');
  f.drop(`${V}.readYourWrites`, "no equivalent; Vault's 412 answers are retried with backoff");
  f.drop(`${V}.forwardInconsistent`, "no equivalent; Vault's 412 answers are retried with backoff");
  f.drop(`${V}.headers`, 'extra request headers are not supported');

  const mount = f.str(`${V}.path`)?.replace(/^\/+|\/+$/g, '');

  for (const [key, what] of Object.entries(OTHER_AUTH)) {
    if (f.has(`${V}.auth.${key}`)) {
      return {
        ok: false,
        why: `${store.kind} ${store.name} logs in with ${what} (auth.${key}); vaultsync logs in only with the Kubernetes auth method as a ServiceAccount`,
      };
    }
  }
  const k = `${V}.auth.kubernetes`;
  if (!f.has(k)) {
    return {
      ok: false,
      why: `${store.kind} ${store.name}: its auth is not the Kubernetes auth method, the only one vaultsync uses`,
    };
  }
  const role = f.str(`${k}.role`);
  if (role === undefined) {
    return { ok: false, why: `${store.kind} ${store.name} has no auth.kubernetes.role` };
  }
  const authMount = f.str(`${k}.mountPath`)?.replace(/^\/+|\/+$/g, '');
  const auth: KubernetesAuth = authMount === undefined ? { role } : { mount: authMount, role };
  const sa = f.str(`${k}.serviceAccountRef.name`);
  if (sa !== undefined) {
    auth.serviceAccountName = sa;
    const saNamespace = f.str(`${k}.serviceAccountRef.namespace`);
    if (saNamespace !== undefined && saNamespace !== namespace) {
      f.drop(
        `${k}.serviceAccountRef.namespace`,
        `a SecretSync logs in only as a ServiceAccount of its own namespace: ${sa} in ${namespace ?? 'its namespace'}, not in ${saNamespace}; bind the Vault role to it`,
      );
    }
    const audiences = f.get(`${k}.serviceAccountRef.audiences`);
    if (Array.isArray(audiences) && audiences.length > 0) auth.audiences = audiences.map(String);
    f.use(`${k}.secretRef`); // ESO itself ignores it when serviceAccountRef is set: nothing is lost
  } else if (f.has(`${k}.secretRef`)) {
    return {
      ok: false,
      why: `${store.kind} ${store.name} logs in with a ServiceAccount token stored in a Secret (auth.kubernetes.secretRef); vaultsync requests short-lived tokens: name the ServiceAccount in serviceAccountRef`,
    };
  } else {
    f.report(
      `${k}.serviceAccountRef`,
      "absent: ESO's own ServiceAccount becomes vaultsync's (no serviceAccountName), which works only with the controller's --allow-controller-identity; better: bind the role to the application's ServiceAccount and set serviceAccountName",
    );
  }

  if (store.kind === 'ClusterSecretStore') {
    f.drop(
      'spec.conditions',
      'vaultsync has no store objects to restrict by namespace; each SecretSync names its own identity',
    );
  }
  f.drop('spec.retrySettings', 'retries are the controller’s (exponential backoff with jitter)');
  f.use('spec.refreshInterval'); // how often ESO re-validates the store: nothing to carry over
  f.use('spec.controller');
  f.dropUnread('spec', 'vaultsync has no equivalent');
  const value: StoreMapping = { vault, auth: { kubernetes: auth }, dropped: f.drops };
  if (mount !== undefined && mount !== '') value.mount = mount;
  return { ok: true, value };
}

function asObject(v: unknown): Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
}
