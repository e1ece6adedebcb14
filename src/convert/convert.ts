/**
 * The pure core of `vaultsync convert`: ESO manifests in, SecretSync objects out, each with the
 * list of input fields it does not carry and why. No I/O; the CLI (run.ts) reads and writes.
 */
import { API_VERSION, KIND, SECRET_KEY_PATTERN } from '../api/index.js';
import { Fields, type Drop } from './fields.js';
import type { Manifest, Skipped } from './manifests.js';
import { convertProperty } from './property.js';
import { mapStore, type StoreMapping, type StoreOptions } from './store.js';
import { convertTemplate } from './template.js';

export interface Pick {
  secretKey: string;
  property: string;
  decodingStrategy?: string;
}
export interface KvRef {
  mount: string;
  path: string;
  version?: number;
}
export interface AllKeys {
  property?: string;
  rewrite?: { regex: string; replacement: string }[];
  decodingStrategy?: string;
}
export interface SourceItem {
  kv: KvRef;
  data?: Pick[];
  allKeys?: AllKeys;
}

/** A SecretSync as the converter writes it (the shape of src/api/schema.ts; checked with validateSecretSync in tests). */
export interface ConvertedSecretSync {
  apiVersion: typeof API_VERSION;
  kind: typeof KIND;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  spec: {
    vault: StoreMapping['vault'] & { kv?: KvRef };
    auth: StoreMapping['auth'];
    data?: Pick[];
    sources?: SourceItem[];
    template?: { data: Record<string, string>; mergePolicy?: 'Replace' | 'Merge' };
    target: {
      name?: string;
      type?: string;
      labels?: Record<string, string>;
      annotations?: Record<string, string>;
      immutable?: boolean;
      deletionPolicy?: 'Delete' | 'Retain';
    };
    refresh: { interval?: string; policy?: 'Periodic' | 'OnChange' | 'CreatedOnce' };
  };
}

/** The outcome for one ExternalSecret. */
export interface Conversion {
  from: { kind: string; name: string; namespace?: string; origin: string };
  /** Absent when nothing could be written; `error` says why. */
  secretSync?: ConvertedSecretSync;
  error?: string;
  dropped: Drop[];
}

export interface ConvertResult {
  conversions: Conversion[];
  skipped: Skipped[];
}

export type ConvertOptions = StoreOptions;

const DECODING: Record<string, string | null> = { None: null, Base64: 'Base64', Base64URL: 'Base64URL' };
const RESERVED = /^([^/]*\.)?(kubernetes\.io|k8s\.io|vaultsync\.io)\//;
const SECRET_KEY = new RegExp(SECRET_KEY_PATTERN);

/** Converts every ExternalSecret in `manifests`, resolving its store among them. */
export function convertManifests(manifests: readonly Manifest[], opts: ConvertOptions = {}): ConvertResult {
  const first = new Map<string, Manifest>();
  const conversions = manifests
    .filter((m) => m.kind === 'ExternalSecret')
    .map((es) => {
      const id = `${es.namespace ?? ''}/${es.name}`;
      const earlier = first.get(id);
      if (earlier !== undefined) {
        const from = {
          kind: es.kind,
          name: es.name,
          origin: es.origin,
          ...(es.namespace && { namespace: es.namespace }),
        };
        return {
          from,
          error: `the input has another ExternalSecret of this name (${earlier.origin}), converted instead`,
          dropped: [],
        };
      }
      first.set(id, es);
      return convertExternalSecret(es, manifests, opts);
    });
  const used = new Set(conversions.map((c) => c.storeKey).filter((k) => k !== undefined));
  const skipped: Skipped[] = manifests
    .filter((m) => m.kind !== 'ExternalSecret' && !used.has(storeKey(m.kind, m.name, m.namespace)))
    .map((m) => ({ origin: m.origin, what: `${m.kind} ${m.name}`, why: 'no ExternalSecret in the input uses it' }));
  return { conversions: conversions.map(({ storeKey: _, ...c }) => c), skipped };
}

function storeKey(kind: string, name: string, namespace: string | undefined): string {
  return kind === 'ClusterSecretStore' ? `${kind}/${name}` : `${kind}/${namespace ?? ''}/${name}`;
}

function convertExternalSecret(
  es: Manifest,
  all: readonly Manifest[],
  opts: ConvertOptions,
): Conversion & { storeKey?: string } {
  const from: Conversion['from'] = { kind: es.kind, name: es.name, origin: es.origin };
  if (es.namespace !== undefined) from.namespace = es.namespace;
  const fail = (error: string, key?: string) => ({ from, error, dropped: [], ...(key ? { storeKey: key } : {}) });

  const f = new Fields(es.raw);
  const storeName = f.str('spec.secretStoreRef.name');
  const storeKind = f.str('spec.secretStoreRef.kind') ?? 'SecretStore';
  if (storeName === undefined)
    return fail('no spec.secretStoreRef: stores named per entry (sourceRef) are not converted');
  if (storeKind !== 'SecretStore' && storeKind !== 'ClusterSecretStore') {
    return fail(`spec.secretStoreRef.kind ${storeKind} is not a store`);
  }
  const key = storeKey(storeKind, storeName, es.namespace);
  const store = all.find((m) => storeKey(m.kind, m.name, m.namespace) === key);
  if (store === undefined) {
    return fail(
      `its ${storeKind} ${storeName}${storeKind === 'SecretStore' ? ` (namespace ${es.namespace ?? 'unset'})` : ''} is not in the input: give its manifest too`,
    );
  }
  const mapped = mapStore(store, es.namespace, opts);
  if (!mapped.ok) return fail(mapped.why, key);
  const s = mapped.value;
  f.use('spec.secretStoreRef');

  const sources: SourceItem[] = [];
  const resolve = (path: string): KvRef | undefined => {
    const ref = kvRef(f.str(path) ?? '', s.mount);
    if (ref === undefined) f.drop(path, 'names no secret under a KV mount');
    return ref;
  };

  // ESO applies dataFrom in order, then data over it: the same order here.
  for (let i = 0; i < f.count('spec.dataFrom'); i++) {
    const p = `spec.dataFrom[${i}]`;
    f.drop(
      `${p}.find`,
      'find lists Vault paths by name or tags at each sync; a SecretSync reads fixed paths: list them (vault kv list) and add a source for each',
    );
    f.drop(`${p}.sourceRef`, 'generators and per-entry stores are not converted');
    if (!f.has(`${p}.extract`)) {
      f.use(p);
      continue;
    }
    const e = `${p}.extract`;
    const kv = resolve(`${e}.key`);
    if (kv === undefined) continue;
    const version = versionOf(f, `${e}.version`);
    if (version === false) continue;
    if (version !== undefined) kv.version = version;
    const allKeys: AllKeys = {};
    const property = f.str(`${e}.property`);
    if (property !== undefined && property !== '') {
      const converted = convertProperty(property);
      if (!converted.ok) {
        f.drop(e, converted.why);
        continue;
      }
      allKeys.property = converted.property;
    }
    const decoding = decodingOf(f, `${e}.decodingStrategy`);
    if (decoding) allKeys.decodingStrategy = decoding;
    commonRemoteRef(f, e);
    const rewrite = rewritesOf(f, `${p}.rewrite`);
    if (rewrite.length > 0) allKeys.rewrite = rewrite;
    sources.push({ kv, allKeys });
  }

  const picks = new Map<string, { kv: KvRef; data: Pick[] }>();
  for (let i = 0; i < f.count('spec.data'); i++) {
    const p = `spec.data[${i}]`;
    const r = `${p}.remoteRef`;
    f.drop(`${p}.sourceRef`, 'generators and per-entry stores are not converted');
    const secretKey = f.str(`${p}.secretKey`) ?? '';
    if (!SECRET_KEY.test(secretKey)) {
      f.drop(p, `secretKey must match ${SECRET_KEY_PATTERN}`);
      continue;
    }
    if (f.str(`${r}.metadataPolicy`) === 'Fetch') {
      f.drop(p, "metadataPolicy: Fetch reads the secret's custom_metadata; vaultsync reads only its data");
      continue;
    }
    const kv = resolve(`${r}.key`);
    if (kv === undefined) continue;
    const version = versionOf(f, `${r}.version`);
    if (version === false) continue;
    if (version !== undefined) kv.version = version;
    const property = f.str(`${r}.property`);
    if (property === undefined || property === '') {
      f.drop(
        p,
        'no property: ESO writes the whole secret as one JSON value; name the properties, or use dataFrom.extract for every key',
      );
      continue;
    }
    const converted = convertProperty(property);
    if (!converted.ok) {
      f.drop(`${r}.property`, converted.why);
      continue;
    }
    const pick: Pick = { secretKey, property: converted.property };
    const decoding = decodingOf(f, `${r}.decodingStrategy`);
    if (decoding) pick.decodingStrategy = decoding;
    commonRemoteRef(f, r);
    const group = `${kv.mount}\u0000${kv.path}\u0000${kv.version ?? ''}`;
    const entry = picks.get(group) ?? { kv, data: [] };
    // A later entry with the same secretKey wins in ESO: keep only the last.
    for (const other of picks.values()) other.data = other.data.filter((d) => d.secretKey !== secretKey);
    entry.data.push(pick);
    picks.set(group, entry);
  }
  for (const { kv, data } of picks.values()) if (data.length > 0) sources.push({ kv, data });

  const spec: ConvertedSecretSync['spec'] = {
    vault: { ...s.vault },
    auth: s.auth,
    target: {},
    refresh: {},
  };
  placeSources(spec, sources);
  mapTarget(f, spec);
  mapRefresh(f, spec);
  f.use('spec.data');
  f.use('spec.dataFrom');
  f.dropUnread('spec', 'vaultsync has no equivalent');

  const dropped = [...f.drops, ...s.dropped];
  if (sources.length === 0) {
    return { from, error: 'nothing left to read: every data and dataFrom entry was dropped', dropped, storeKey: key };
  }
  // The schema's order, for people reading the YAML (absent members are left out).
  const { vault, auth, data, sources: items, template, target, refresh } = spec;
  const ordered: ConvertedSecretSync['spec'] = {
    vault,
    auth,
    ...(data && { data }),
    ...(items && { sources: items }),
    ...(template && { template }),
    target,
    refresh,
  };
  const metadata: ConvertedSecretSync['metadata'] = { name: es.name };
  if (es.namespace !== undefined) metadata.namespace = es.namespace;
  const labels = f.strings('metadata.labels');
  if (labels && Object.keys(labels).length > 0) metadata.labels = labels;
  return {
    from,
    secretSync: { apiVersion: API_VERSION, kind: KIND, metadata, spec: ordered },
    dropped,
    storeKey: key,
  };
}

/** One plain source: the vault.kv shorthand; otherwise the sources list. */
function placeSources(spec: ConvertedSecretSync['spec'], sources: SourceItem[]): void {
  const [only] = sources;
  if (sources.length === 1 && only !== undefined) {
    if (only.data !== undefined) {
      spec.vault.kv = only.kv;
      spec.data = only.data;
      return;
    }
    if (only.allKeys !== undefined && Object.keys(only.allKeys).length === 0) {
      spec.vault.kv = only.kv;
      return;
    }
  }
  spec.sources = sources;
}

/**
 * ESO's remoteRef.key: `path`, `mount/path` or `mount/data/path`, with or without a leading `/`
 * (client_get.go buildPath). With a store `path`, a key starting with it has it removed.
 */
export function kvRef(key: string, mount: string | undefined): KvRef | undefined {
  let rest = key.replace(/^\/+/, '').replace(/\/+$/, '');
  let m = mount;
  if (m !== undefined) {
    if (rest.startsWith(`${m}/`)) {
      rest = rest.slice(m.length + 1);
      if (rest.startsWith('data/')) rest = rest.slice('data/'.length);
    }
  } else {
    const dataAt = rest.indexOf('/data/');
    if (dataAt > 0) {
      m = rest.slice(0, dataAt);
      rest = rest.slice(dataAt + '/data/'.length);
    } else {
      const slash = rest.indexOf('/');
      if (slash <= 0) return undefined;
      m = rest.slice(0, slash);
      rest = rest.slice(slash + 1);
    }
  }
  if (rest === '' || rest.split('/').some((seg) => seg === '' || seg === '.' || seg === '..')) return undefined;
  return { mount: m, path: rest };
}

function versionOf(f: Fields, path: string): number | undefined | false {
  const v = f.str(path);
  if (v === undefined || v === '') return undefined;
  if (/^[1-9][0-9]{0,9}$/.test(v)) return Number(v);
  f.drop(path.replace(/\.version$/, ''), `version ${JSON.stringify(v)} is not a KV v2 version number`);
  return false;
}

function decodingOf(f: Fields, path: string): string | undefined {
  const v = f.str(path);
  if (v === undefined) return undefined;
  const mapped = DECODING[v];
  if (v === 'Auto') {
    f.drop(
      path,
      'Auto (base64 if it decodes, else as is) has no equivalent: choose Base64, Base64URL or None per value',
    );
  } else if (mapped === undefined) {
    f.drop(path, `unknown decodingStrategy ${v}`);
  }
  return mapped ?? undefined;
}

function commonRemoteRef(f: Fields, ref: string): void {
  if ((f.str(`${ref}.conversionStrategy`) ?? 'Default') !== 'Default') {
    f.drop(`${ref}.conversionStrategy`, 'only Default: key names are used as they are');
  }
  if ((f.str(`${ref}.metadataPolicy`) ?? 'None') !== 'None') {
    f.drop(`${ref}.metadataPolicy`, "vaultsync reads a secret's data, never its custom_metadata");
  }
}

function rewritesOf(f: Fields, path: string): { regex: string; replacement: string }[] {
  const out: { regex: string; replacement: string }[] = [];
  for (let i = 0; i < f.count(path); i++) {
    const p = `${path}[${i}]`;
    f.drop(`${p}.transform`, 'Go-template rewrites of key names are not translated: use a regexp rewrite');
    const source = f.str(`${p}.regexp.source`);
    const target = f.str(`${p}.regexp.target`);
    if (source === undefined || target === undefined) continue;
    // vaultsync's rewrites are RE2 with Go's replacement syntax, as ESO's: carried over as they are.
    out.push({ regex: source, replacement: target });
  }
  return out;
}

function mapTarget(f: Fields, spec: ConvertedSecretSync['spec']): void {
  const t = 'spec.target';
  const target = spec.target;
  const name = f.str(`${t}.name`);
  if (name !== undefined && name !== '') target.name = name;
  const creation = f.str(`${t}.creationPolicy`) ?? 'Owner';
  if (creation === 'Orphan') target.deletionPolicy = 'Retain';
  else if (creation !== 'Owner') {
    f.drop(
      `${t}.creationPolicy`,
      `${creation}: vaultsync writes only Secrets it creates and manages (another Secret of that name is a SecretConflict)`,
    );
  }
  const deletion = f.str(`${t}.deletionPolicy`) ?? 'Retain';
  if (deletion !== 'Retain') {
    f.drop(
      `${t}.deletionPolicy`,
      `${deletion}: when the Vault secret is gone vaultsync keeps the Secret as it is (ESO's Retain)`,
    );
  }
  if (f.bool(`${t}.immutable`) === true) target.immutable = true;

  const tp = `${t}.template`;
  const type = f.str(`${tp}.type`);
  if (type !== undefined && type !== '' && type !== 'Opaque') target.type = type;
  for (const which of ['labels', 'annotations'] as const) {
    const map = f.strings(`${tp}.metadata.${which}`);
    if (map === undefined) continue;
    const kept = Object.fromEntries(
      Object.entries(map).filter(
        ([k]) => !RESERVED.test(k) || (k.startsWith('app.kubernetes.io/') && k !== 'app.kubernetes.io/managed-by'),
      ),
    );
    const refused = Object.keys(map).filter((k) => !(k in kept));
    if (refused.length > 0) {
      f.report(`${tp}.metadata.${which}`, `keys in reserved prefixes are refused: ${refused.join(', ')}`);
    }
    if (Object.keys(kept).length > 0) target[which] = kept;
  }
  const engine = f.str(`${tp}.engineVersion`) ?? 'v2';
  if (engine !== 'v2') f.drop(`${tp}.engineVersion`, `engine ${engine} templates are not translated (only v2)`);
  f.drop(
    `${tp}.templateFrom`,
    'templates from ConfigMaps, Secrets or literals are not read: inline them in template.data',
  );
  const data = f.strings(`${tp}.data`);
  if (data !== undefined && engine === 'v2') {
    const out: Record<string, string> = {};
    for (const [key, go] of Object.entries(data)) {
      const converted = convertTemplate(go);
      if (converted.ok) out[key] = converted.liquid;
      else f.report(`${tp}.data.${key}`, converted.why);
    }
    if (Object.keys(out).length > 0) {
      spec.template = { data: out };
      const merge = f.str(`${tp}.mergePolicy`) ?? 'Replace';
      if (merge === 'Merge') spec.template.mergePolicy = 'Merge';
    }
  }
  f.use(`${tp}.mergePolicy`);
}

function mapRefresh(f: Fields, spec: ConvertedSecretSync['spec']): void {
  const policy = f.str('spec.refreshPolicy');
  const text = f.str('spec.refreshInterval');
  // ESO's CRD defaults refreshInterval to 1h (vaultsync's default is the operator's --refresh-default).
  const ms = text === undefined ? 3_600_000 : goDurationMs(text);
  if (ms === undefined) {
    f.drop('spec.refreshInterval', `${JSON.stringify(text)} is not a Go duration`);
  } else if (ms === 0 && (policy ?? 'Periodic') === 'Periodic') {
    spec.refresh.policy = 'CreatedOnce'; // ESO: "set to zero to fetch and create it once"
  } else if (ms > MAX_INTERVAL_MS) {
    f.drop('spec.refreshInterval', 'longer than 8760h, the longest refresh.interval');
  } else if (ms > 0) {
    spec.refresh.interval = formatInterval(ms);
    if (ms % 1000 !== 0)
      f.report('spec.refreshInterval', `rounded up to ${spec.refresh.interval}: intervals are whole seconds`);
  }
  if (policy === 'OnChange' || policy === 'CreatedOnce') spec.refresh.policy = policy;
  else if (policy !== undefined && policy !== 'Periodic') f.drop('spec.refreshPolicy', `unknown policy ${policy}`);
}

const MAX_INTERVAL_MS = 8760 * 3_600_000;
const GO_UNITS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  μs: 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

/** Milliseconds of any Go duration (ns…h units); undefined if it is not one or is negative. */
export function goDurationMs(text: string): number | undefined {
  if (text === '0') return 0;
  if (!/^(?:[0-9]*\.?[0-9]+(?:ns|us|µs|μs|ms|s|m|h))+$/.test(text)) return undefined;
  let ms = 0;
  for (const [, n = '0', unit = 's'] of text.matchAll(/([0-9]*\.?[0-9]+)(ns|us|µs|μs|ms|s|m|h)/g)) {
    ms += Number(n) * (GO_UNITS[unit] ?? 0);
  }
  return ms;
}

/** The shortest interval text vaultsync admits (whole seconds, at least 1s). */
export function formatInterval(ms: number): string {
  let s = Math.max(1, Math.ceil(ms / 1000));
  const h = Math.floor(s / 3600);
  s -= h * 3600;
  const m = Math.floor(s / 60);
  s -= m * 60;
  return `${h ? `${h}h` : ''}${m ? `${m}m` : ''}${s || (!h && !m) ? `${s}s` : ''}`;
}
