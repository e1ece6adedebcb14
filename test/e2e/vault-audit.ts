/**
 * OpenBao's file audit device, declared in the server configuration (OpenBao 2.4 refuses enabling
 * audit devices over the API), read back as "who did what": every request with the identity its
 * token was issued to. Tokens and JWTs are HMAC-ed in the log by OpenBao itself.
 */
import { readFileSync } from 'node:fs';

export function auditHcl(file: string): string {
  return ['audit "file" "e2e" {', '  options {', `    file_path = "${file}"`, '  }', '}'].join('\n');
}

export interface AuditRequest {
  path: string;
  operation: string;
  /** ServiceAccount (namespace/name) the token was issued to by a Kubernetes-auth login; '' for root. */
  serviceAccount: string;
  role: string;
}

interface Entry {
  type?: string;
  auth?: { metadata?: Record<string, string>; policies?: string[] };
  request?: { path?: string; operation?: string };
  response?: { auth?: { metadata?: Record<string, string> } };
}

const sa = (m: Record<string, string> | undefined) =>
  m?.service_account_namespace === undefined ? '' : `${m.service_account_namespace}/${m.service_account_name ?? ''}`;

/** Requests as the audit log has them (reads carry the reader's identity). */
export function auditRequests(file: string): AuditRequest[] {
  return lines(file)
    .filter((e) => e.type === 'request')
    .map((e) => ({
      path: e.request?.path ?? '',
      operation: e.request?.operation ?? '',
      serviceAccount: sa(e.auth?.metadata),
      role: e.auth?.metadata?.role ?? '',
    }));
}

/** Successful Kubernetes-auth logins: the ServiceAccount and role each was for. */
export function auditLogins(file: string): { serviceAccount: string; role: string }[] {
  return lines(file)
    .filter((e) => e.type === 'response' && /^auth\/.+\/login$/.test(e.request?.path ?? '') && e.response?.auth)
    .map((e) => ({ serviceAccount: sa(e.response?.auth?.metadata), role: e.response?.auth?.metadata?.role ?? '' }));
}

function lines(file: string): Entry[] {
  let text = '';
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return [];
  }
  return text
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Entry);
}
