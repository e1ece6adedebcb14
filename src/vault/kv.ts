import { asRecord } from '../core/json.js';
import { SyncError } from '../errors.js';
import type { KvSecret } from './types.js';
import { badData, describeTarget, readFailure, type ReadTarget } from './classify.js';
import type { VaultHttpResponse } from './connection.js';

/**
 * Each segment URL-encoded. Empty, `.` and `..` segments are refused: URL parsing would resolve
 * them (even encoded) and the request would leave the mount.
 */
export function encodeSegments(what: string, value: string): string {
  const segments = value.split('/');
  if (segments.some((s) => s === '' || s === '.' || s === '..')) {
    throw new SyncError('InvalidSpec', `Vault ${what} "${value}" must not have empty, . or .. segments`);
  }
  return segments.map(encodeURIComponent).join('/');
}

/** `<mount>/data/<path>[?version=N]`. */
export function kvDataPath(target: Pick<ReadTarget, 'mount' | 'path' | 'version'>): string {
  const { version } = target;
  if (version !== undefined && !(Number.isSafeInteger(version) && version >= 1)) {
    throw new SyncError('InvalidSpec', `Vault KV version ${version} must be a positive integer`);
  }
  const query = version === undefined ? '' : `?version=${version}`;
  return `${encodeSegments('KV mount', target.mount)}/data/${encodeSegments('KV path', target.path)}${query}`;
}

interface KvMetadata {
  version: number;
  createdTime?: string;
  deletionTime?: string;
  destroyed: boolean;
}

function parseMetadata(value: unknown): KvMetadata | string {
  const record = asRecord(value);
  if (record === undefined) return 'no metadata';
  const { version, created_time: created, deletion_time: deletion, destroyed } = record;
  if (typeof version !== 'number' || !Number.isSafeInteger(version) || version < 1) return 'no valid metadata.version';
  if (created !== undefined && typeof created !== 'string') return 'metadata.created_time is not a string';
  if (deletion !== undefined && typeof deletion !== 'string') return 'metadata.deletion_time is not a string';
  if (destroyed !== undefined && typeof destroyed !== 'boolean') return 'metadata.destroyed is not a boolean';
  return {
    version,
    ...(created === undefined || created === '' ? {} : { createdTime: created }),
    ...(deletion === undefined || deletion === '' ? {} : { deletionTime: deletion }),
    destroyed: destroyed === true,
  };
}

/** Vault answers a deleted or destroyed version with null data and the version's metadata. */
function goneVersion(body: unknown, target: ReadTarget, status: number): SyncError | undefined {
  const answer = asRecord(asRecord(body)?.data);
  if (answer === undefined || answer.data !== null) return undefined;
  const meta = parseMetadata(answer.metadata);
  if (typeof meta === 'string') return undefined;
  const where = `Vault secret ${target.mount}/${target.path} version ${meta.version}`;
  if (meta.destroyed) {
    return new SyncError('VaultPathNotFound', `${where} is destroyed: write a new version or pin another one`, {
      status,
    });
  }
  if (meta.deletionTime !== undefined) {
    return new SyncError(
      'VaultPathNotFound',
      `${where} is deleted (since ${meta.deletionTime}): undelete it, write a new version or pin another one`,
      { status },
    );
  }
  return undefined;
}

/**
 * Turns Vault's answer to a KV v2 read into a secret or a SyncError. `credentials` (the token
 * sent) are scrubbed from any Vault error text quoted in a message. Secret data is never quoted.
 */
export function interpretKvResponse(
  res: VaultHttpResponse,
  target: ReadTarget,
  credentials: readonly string[],
): KvSecret {
  const what = `the read of ${describeTarget(target)}`;
  if (res.status === 404) {
    throw goneVersion(res.body, target, res.status) ?? readFailure(res, target, credentials);
  }
  if (res.status !== 200) throw readFailure(res, target, credentials);

  const body = asRecord(res.body);
  if (body === undefined) throw badData(what, 'the body is not a JSON object', res.status);
  const answer = asRecord(body.data);
  if (answer === undefined) {
    throw badData(what, `no data object: check that ${target.mount} is a KV version 2 mount`, res.status);
  }
  const gone = goneVersion(body, target, res.status);
  if (gone !== undefined) throw gone;
  const meta = parseMetadata(answer.metadata);
  if (typeof meta === 'string') {
    throw badData(what, `${meta}: check that ${target.mount} is a KV version 2 mount`, res.status);
  }
  if (target.version !== undefined && meta.version !== target.version) {
    throw badData(what, `metadata.version is ${meta.version}`, res.status);
  }
  const data = asRecord(answer.data);
  if (data === undefined) throw badData(what, 'data.data is not an object', res.status);
  const tooBig = freezeBounded(data);
  if (tooBig !== undefined) throw badData(what, tooBig, res.status);
  return Object.freeze({
    data,
    version: meta.version,
    ...(meta.createdTime === undefined ? {} : { createdTime: meta.createdTime }),
  });
}

/** A KV secret that fits in a Secret holds far fewer values, and far less nesting, than this. */
export const MAX_KV_VALUES = 100_000;
export const MAX_KV_DEPTH = 64;

/**
 * Freezes the whole value graph, so one parsed answer can be shared by every reader and the cache
 * without a copy each (a 4 MiB answer of empty arrays is over a million objects). Refuses, with the
 * reason, a graph with more than MAX_KV_VALUES values or nested deeper than MAX_KV_DEPTH. Iterative,
 * so no nesting can overflow the stack.
 */
function freezeBounded(root: object): string | undefined {
  const stack: [object, number][] = [[root, 1]];
  let values = 0;
  for (let top = stack.pop(); top !== undefined; top = stack.pop()) {
    const [node, depth] = top;
    if (depth > MAX_KV_DEPTH) return `the secret is nested deeper than ${MAX_KV_DEPTH} levels`;
    Object.freeze(node);
    for (const child of Object.values(node) as unknown[]) {
      values += 1;
      if (values > MAX_KV_VALUES) return `the secret holds more than ${MAX_KV_VALUES} values`;
      if (typeof child === 'object' && child !== null) stack.push([child, depth + 1]);
    }
  }
  return undefined;
}
