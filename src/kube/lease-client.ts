import type { KubeHttp } from './http.js';
import type { CallOptions } from './request.js';

/** The parts of a coordination.k8s.io/v1 Lease that leader election reads and writes. */
export interface Lease {
  apiVersion?: string;
  kind?: string;
  metadata?: LeaseMeta;
  spec?: LeaseSpec;
}

export interface LeaseMeta {
  name?: string;
  namespace?: string;
  resourceVersion?: string;
  annotations?: Record<string, string>;
  [field: string]: unknown;
}

export interface LeaseSpec {
  holderIdentity?: string;
  leaseDurationSeconds?: number;
  /** MicroTime: RFC 3339 with six fractional digits (see microTime). */
  acquireTime?: string;
  renewTime?: string;
  leaseTransitions?: number;
}

/** The three calls the elector makes (get, create, update on leases). */
export interface LeaseClient {
  readNamespacedLease(p: { namespace: string; name: string }, o?: CallOptions): Promise<Lease>;
  createNamespacedLease(p: { namespace: string; body: Lease }, o?: CallOptions): Promise<Lease>;
  replaceNamespacedLease(p: { namespace: string; name: string; body: Lease }, o?: CallOptions): Promise<Lease>;
}

const leases = (namespace: string) => `/apis/coordination.k8s.io/v1/namespaces/${encodeURIComponent(namespace)}/leases`;

export function leaseClient(api: KubeHttp): LeaseClient {
  const call = async (req: Parameters<KubeHttp['request']>[0], o: CallOptions | undefined) =>
    (await api.request({
      ...req,
      signal: o?.signal,
      ...(o?.timeoutMs === undefined ? {} : { timeoutMs: o.timeoutMs }),
    })) as Lease;
  return {
    readNamespacedLease: ({ namespace, name }, o) =>
      call({ method: 'GET', path: `${leases(namespace)}/${encodeURIComponent(name)}` }, o),
    createNamespacedLease: ({ namespace, body }, o) => call({ method: 'POST', path: leases(namespace), body }, o),
    replaceNamespacedLease: ({ namespace, name, body }, o) =>
      call({ method: 'PUT', path: `${leases(namespace)}/${encodeURIComponent(name)}`, body }, o),
  };
}

/** metav1.MicroTime as the API server writes it: 2006-01-02T15:04:05.000000Z. */
export function microTime(ms: number): string {
  return new Date(ms).toISOString().replace(/Z$/, '000Z');
}
