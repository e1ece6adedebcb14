export { createKube, kubeClients, type CreateKubeOptions, type Kube } from './client.js';
export { RestConfig, loadKubeconfig, loadInCluster } from './kubeconfig.js';
export { leaseClient, type Lease, type LeaseClient } from './lease-client.js';
export { Informer, type InformerHandlers, type InformerOptions } from './informer.js';
export {
  DEFAULT_TIMING,
  type ReflectorTiming,
  type ResourceSource,
  type ListPage,
  type ListRequest,
} from './reflector.js';
export { objectKey, isNewer, type KubeObject } from './store.js';
export {
  createSecretSyncInformer,
  secretSyncSource,
  toSecretSync,
  type SecretSyncInformerOptions,
} from './secretsyncs.js';
export { ManagedSecrets, MANAGED_SELECTOR, secretSource, type ManagedSecretsOptions } from './secrets.js';
export { toSecretObject } from './secret-object.js';
export { WriteLimiter, type WriteLimiterOptions } from './limiter.js';
export { KubeStatusWriter, statusMergePatch, type StatusWriterDeps } from './status.js';
export { KubeEventRecorder, REPORTING_COMPONENT, type EventRecorderOptions } from './events.js';
export { TokenRequestSource, MIN_TOKEN_EXPIRATION_SECONDS, type TokenRequestSourceDeps } from './tokens.js';
export { loadHashKey, HASH_KEY_DATA_KEY, type LoadHashKeyOptions } from './hashkey.js';
export { kubeError, apiStatus, apiErrorDetail, KubeApiError, type CallOptions } from './request.js';
export { LeaderElector, electionIdentity, type ElectionEnd, type LeaderElectorOptions } from './leader.js';
export { KubeLeaseRecords, leaseRecordName, LEASE_RECORD_LABEL } from './lease-records.js';
export { KubeWorkloadPatcher, type KubeWorkloadPatcherDeps } from './workloads.js';
