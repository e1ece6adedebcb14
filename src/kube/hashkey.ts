import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { Logger } from '../core/types.js';
import { asRecord } from '../core/json.js';
import type { KubeHttp } from './http.js';
import { apiStatus, kubeError } from './request.js';
import { secretPath, secretsPath } from './secrets.js';

/** The data key of the hash-key Secret. */
export const HASH_KEY_DATA_KEY = 'hmac-key';
export const GENERATED_KEY_BYTES = 32;
/** Shorter keys are refused: the HMAC must not be guessable from the annotation it protects. */
export const MIN_KEY_BYTES = 16;
const ATTEMPTS = 3;

export interface LoadHashKeyOptions {
  /** A file holding the key (raw bytes); when given, no Secret is read or created. */
  file?: string | undefined;
  secret: { namespace: string; name: string };
  api: Pick<KubeHttp, 'request'>;
  log: Logger;
  signal?: AbortSignal;
}

/**
 * The HMAC key for content hashes, stable across restarts and shared by replicas: from the file
 * if given, else from the Secret, which is created with random bytes if missing. Two replicas
 * racing to create it both end with the winner's key (409 → read again).
 */
export async function loadHashKey(opts: LoadHashKeyOptions): Promise<Buffer> {
  if (opts.file !== undefined) {
    const key = await readFile(opts.file);
    checkLength(key, `hash key file ${opts.file}`);
    opts.log.info({ file: opts.file }, 'content hash key loaded from file');
    return key;
  }
  const { namespace, name } = opts.secret;
  const where = `Secret ${namespace}/${name}`;
  for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
    const existing = await readKey(opts);
    if (existing !== undefined) {
      checkLength(existing, `data.${HASH_KEY_DATA_KEY} of ${where}`);
      opts.log.info({ namespace, name }, 'content hash key loaded from Secret');
      return existing;
    }
    const key = randomBytes(GENERATED_KEY_BYTES);
    if (await createKey(opts, key)) {
      opts.log.info({ namespace, name }, 'content hash key created');
      return key;
    }
    // Another replica created it first: read theirs on the next pass.
  }
  throw new Error(`${where} kept disappearing while the content hash key was being created`);
}

async function readKey(opts: LoadHashKeyOptions): Promise<Buffer | undefined> {
  const { namespace, name } = opts.secret;
  let secret: unknown;
  try {
    secret = await opts.api.request({ method: 'GET', path: secretPath(namespace, name), signal: opts.signal });
  } catch (err: unknown) {
    if (apiStatus(err) === 404) return undefined;
    throw kubeError('KubernetesApiError', { verb: 'get', resource: 'Secret', namespace, name }, err);
  }
  const encoded = asRecord(asRecord(secret)?.data)?.[HASH_KEY_DATA_KEY];
  if (typeof encoded !== 'string') {
    throw new Error(`Secret ${namespace}/${name} exists but has no data.${HASH_KEY_DATA_KEY}: fix or delete it`);
  }
  return Buffer.from(encoded, 'base64');
}

/** True if created; false if it already existed (409). */
async function createKey(opts: LoadHashKeyOptions, key: Buffer): Promise<boolean> {
  const { namespace, name } = opts.secret;
  try {
    await opts.api.request({
      method: 'POST',
      path: secretsPath(namespace),
      signal: opts.signal,
      body: {
        apiVersion: 'v1',
        kind: 'Secret',
        // Not labelled managed-by=vaultsync: it is not a synced Secret and must never be cleaned up.
        metadata: {
          name,
          namespace,
          labels: { 'app.kubernetes.io/name': 'vaultsync', 'app.kubernetes.io/component': 'hash-key' },
        },
        type: 'Opaque',
        data: { [HASH_KEY_DATA_KEY]: key.toString('base64') },
      },
    });
    return true;
  } catch (err: unknown) {
    if (apiStatus(err) === 409) return false;
    throw kubeError('KubernetesApiError', { verb: 'create', resource: 'Secret', namespace, name }, err);
  }
}

function checkLength(key: Buffer, what: string): void {
  if (key.length < MIN_KEY_BYTES) {
    throw new Error(`${what} holds ${key.length} bytes; the content hash key needs at least ${MIN_KEY_BYTES}`);
  }
}
