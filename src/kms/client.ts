/**
 * A KMS v2 client over the plugin's Unix socket, as the apiserver calls it. Used by the tests and
 * bench/kms.ts; the plugin itself never calls it.
 */
import * as grpc from '@grpc/grpc-js';
import {
  kmsServiceDefinition,
  type DecryptRequest,
  type DecryptResponse,
  type EncryptRequest,
  type EncryptResponse,
  type StatusResponse,
} from './grpc.js';

export interface KmsClient {
  status(timeoutMs?: number): Promise<StatusResponse>;
  encrypt(req: EncryptRequest, timeoutMs?: number): Promise<EncryptResponse>;
  decrypt(req: DecryptRequest, timeoutMs?: number): Promise<DecryptResponse>;
  close(): void;
}

type Unary = (req: object, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res: unknown) => void) => void;

export function createKmsClient(socketPath: string): KmsClient {
  const Ctor = grpc.makeGenericClientConstructor(kmsServiceDefinition(), 'KeyManagementService');
  const client = new Ctor(`unix://${socketPath}`, grpc.credentials.createInsecure()) as unknown as grpc.Client &
    Record<'Status' | 'Encrypt' | 'Decrypt', Unary>;
  const call = <T>(method: 'Status' | 'Encrypt' | 'Decrypt', req: object, timeoutMs: number): Promise<T> =>
    new Promise((resolve, reject) => {
      client[method].call(client, req, { deadline: Date.now() + timeoutMs }, (err, res) => {
        if (err) reject(err);
        else resolve(res as T);
      });
    });
  return {
    status: (t = 3_000) => call<StatusResponse>('Status', {}, t),
    encrypt: (req, t = 3_000) => call<EncryptResponse>('Encrypt', req, t),
    decrypt: (req, t = 3_000) => call<DecryptResponse>('Decrypt', req, t),
    close: () => client.close(),
  };
}
