/**
 * The KMS v2 gRPC surface: the upstream service definition (from the vendored api.proto, parsed
 * with protobufjs), handlers that call KmsService, and the Unix-socket listener. Failures become
 * gRPC statuses with the KmsError's code and message; nothing of a request's payload is logged.
 */
import { chmod, lstat, unlink } from 'node:fs/promises';
import * as grpc from '@grpc/grpc-js';
import protobuf from 'protobufjs';
import { KMS_V2_PROTO } from './api-proto.js';
import { asKmsError } from './errors.js';
import type { KmsService } from './service.js';
import type { KmsLogger } from './types.js';

export const KMS_SERVICE = 'v2.KeyManagementService';
export type KmsMethod = 'Status' | 'Encrypt' | 'Decrypt';

export interface EncryptRequest {
  plaintext: Uint8Array;
  uid: string;
}
export interface EncryptResponse {
  ciphertext: Uint8Array;
  key_id: string;
  annotations?: Record<string, Uint8Array>;
}
export interface DecryptRequest {
  ciphertext: Uint8Array;
  uid: string;
  key_id: string;
  annotations?: Record<string, Uint8Array>;
}
export interface DecryptResponse {
  plaintext: Uint8Array;
}
export interface StatusResponse {
  version: string;
  healthz: string;
  key_id: string;
}

let definition: grpc.ServiceDefinition | undefined;

/** The service as the apiserver calls it: /v2.KeyManagementService/{Status,Encrypt,Decrypt}. */
export function kmsServiceDefinition(): grpc.ServiceDefinition {
  if (definition !== undefined) return definition;
  const root = protobuf.parse(KMS_V2_PROTO, { keepCase: true }).root;
  const service = root.lookupService(KMS_SERVICE);
  const out: Record<string, grpc.MethodDefinition<object, object>> = {};
  for (const method of service.methodsArray) {
    const req = root.lookupType(`v2.${method.requestType}`);
    const res = root.lookupType(`v2.${method.responseType}`);
    out[method.name] = {
      path: `/${KMS_SERVICE}/${method.name}`,
      requestStream: false,
      responseStream: false,
      requestSerialize: (m: object) => Buffer.from(req.encode(req.fromObject(m)).finish()),
      requestDeserialize: (b: Buffer) => req.toObject(req.decode(b), { defaults: true }),
      responseSerialize: (m: object) => Buffer.from(res.encode(res.fromObject(m)).finish()),
      responseDeserialize: (b: Buffer) => res.toObject(res.decode(b), { defaults: true }),
    };
  }
  definition = out;
  return out;
}

export interface RpcObserver {
  /** `code` is the gRPC status name: OK, UNAVAILABLE, ... */
  rpc(method: KmsMethod, code: string, seconds: number): void;
}

export interface GrpcDeps {
  service: KmsService;
  log: KmsLogger;
  metrics: RpcObserver;
}

/** Handlers, no socket: run() listens, tests bind a socket of their own. */
export function buildGrpcServer(deps: GrpcDeps): grpc.Server {
  const server = new grpc.Server();
  server.addService(kmsServiceDefinition(), {
    Status: unary<object, StatusResponse>(deps, 'Status', async (_req, deadline) => {
      const s = await deps.service.status(deadline);
      return { version: s.version, healthz: s.healthz, key_id: s.keyId };
    }),
    Encrypt: unary<EncryptRequest, EncryptResponse>(deps, 'Encrypt', async (req, deadline) => {
      const r = await deps.service.encrypt(req.plaintext, deadline);
      return { ciphertext: r.ciphertext, key_id: r.keyId };
    }),
    Decrypt: unary<DecryptRequest, DecryptResponse>(deps, 'Decrypt', async (req, deadline) => ({
      plaintext: await deps.service.decrypt(req.ciphertext, req.key_id, deadline),
    })),
  });
  return server;
}

function unary<Req, Res>(
  deps: GrpcDeps,
  method: KmsMethod,
  handle: (req: Req, deadline: number | undefined) => Promise<Res>,
): grpc.handleUnaryCall<Req, Res> {
  return (call, callback) => {
    const t0 = performance.now();
    const d = call.getDeadline();
    const deadline = d instanceof Date ? d.getTime() : Number.isFinite(d) ? d : undefined;
    handle(call.request, deadline).then(
      (res) => {
        deps.metrics.rpc(method, 'OK', (performance.now() - t0) / 1000);
        callback(null, res);
      },
      (err: unknown) => {
        const e = asKmsError(err);
        const code = grpc.status[e.grpcCode];
        deps.metrics.rpc(method, code, (performance.now() - t0) / 1000);
        const uid = (call.request as { uid?: unknown }).uid;
        deps.log.warn({ method, reason: e.reason, code, uid, error: e.message }, `${method} failed`);
        callback({ code: e.grpcCode, details: `${e.reason}: ${e.message}` });
      },
    );
  };
}

/**
 * Binds `server` to a Unix socket at `path`, replacing a stale socket from an earlier run (only a
 * socket: any other file there is an error), and makes it accessible to its owner only.
 */
export async function listenUnix(server: grpc.Server, path: string): Promise<void> {
  const existing = await lstat(path).catch((err: unknown) => {
    if ((err as { code?: unknown }).code === 'ENOENT') return undefined;
    throw err;
  });
  if (existing !== undefined) {
    if (!existing.isSocket()) throw new Error(`${path} exists and is not a socket; not replacing it`);
    await unlink(path);
  }
  await new Promise<void>((resolve, reject) => {
    server.bindAsync(`unix://${path}`, grpc.ServerCredentials.createInsecure(), (err) => {
      if (err) reject(err);
      else resolve();
    });
  });
  await chmod(path, 0o600);
}

/** Stops accepting calls, lets running ones finish for up to `graceMs`, then closes the rest. */
export async function shutdown(server: grpc.Server, graceMs: number): Promise<void> {
  await new Promise<void>((resolve) => {
    const timer = setTimeout(() => {
      server.forceShutdown();
      resolve();
    }, graceMs);
    server.tryShutdown(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}
