import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { KMS_V2_PROTO } from './api-proto.js';
import { kmsServiceDefinition } from './grpc.js';

describe('the vendored KMS v2 proto', () => {
  it('is embedded verbatim', () => {
    expect(KMS_V2_PROTO).toBe(readFileSync(new URL('./proto/api.proto', import.meta.url), 'utf8'));
  });

  it('defines the three RPCs at the paths kube-apiserver calls', () => {
    expect(Object.values(kmsServiceDefinition()).map((m) => m.path)).toEqual([
      '/v2.KeyManagementService/Status',
      '/v2.KeyManagementService/Decrypt',
      '/v2.KeyManagementService/Encrypt',
    ]);
  });
});
