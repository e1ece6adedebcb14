import { createPrivateKey, X509Certificate } from 'node:crypto';
import { parseDuration } from '../api/duration.js';
import type { PkiSource } from '../api/dynamic.js';
import type { Clock } from '../core/types.js';
import { SyncError } from '../errors.js';
import { enginePath, identityKey } from '../vault/index.js';
import type { VaultLeases } from '../vault/types.js';
import type { DynamicContext } from './database.js';
import type { Issued } from './lease-keeper.js';
import { effectiveRenewBeforeMs } from './lease-timing.js';

/** What the PKI source asks the keeper for. A certificate holds no lease: it is issued again
 *  (with a new key pair) renewBefore ahead of its notAfter, and nothing is revoked. */
export function pkiRequest(
  item: PkiSource,
  ctx: DynamicContext,
  deps: { vault: VaultLeases; clock: Clock },
): { fingerprint: string; path: string; issue: (signal: AbortSignal) => Promise<Issued> } {
  const path = enginePath(item.mount, 'issue', item.role);
  const where = `${item.mount}/issue/${item.role}`;
  const renewBefore = item.renewBefore === undefined ? undefined : parseDuration(item.renewBefore);
  const body: Record<string, unknown> = {
    common_name: item.commonName,
    format: 'pem',
    private_key_format: 'pem',
    ...(item.altNames === undefined ? {} : { alt_names: item.altNames.join(',') }),
    ...(item.ipSans === undefined ? {} : { ip_sans: item.ipSans.join(',') }),
    ...(item.ttl === undefined ? {} : { ttl: item.ttl }),
  };
  const fingerprint = JSON.stringify([
    'pki',
    identityKey(ctx.identity),
    item.mount,
    item.role,
    body,
    renewBefore ?? null,
  ]);
  const issue = async (signal: AbortSignal): Promise<Issued> => {
    const answer = await deps.vault.issue(
      {
        ...ctx,
        method: 'POST',
        path,
        body,
        what: `certificate ${where}`,
        hint: `check that the PKI role ${item.role} exists on mount ${item.mount} and allows the common name and SANs`,
      },
      signal,
    );
    const bad = (why: string) =>
      new SyncError('BadVaultData', `Vault answered the issue of certificate ${where} with unexpected data (${why})`);
    const { certificate, private_key: key, issuing_ca: issuing, ca_chain: chain } = answer.data;
    if (typeof certificate !== 'string' || typeof key !== 'string' || typeof issuing !== 'string') {
      throw bad('no certificate, private_key or issuing_ca');
    }
    const chainPems = Array.isArray(chain) ? chain.filter((c): c is string => typeof c === 'string') : [];
    let leaf: X509Certificate;
    let intermediates: string[];
    let root: string;
    try {
      leaf = new X509Certificate(certificate);
      if (!leaf.checkPrivateKey(createPrivateKey(key))) throw bad('the private key does not match the certificate');
      const parsed = chainPems.map((pem) => ({ pem: pem.trim(), cert: new X509Certificate(pem) }));
      const selfSigned = (c: X509Certificate) => c.subject === c.issuer && c.verify(c.publicKey);
      intermediates = parsed.filter((p) => !selfSigned(p.cert)).map((p) => p.pem);
      root = parsed.find((p) => selfSigned(p.cert))?.pem ?? issuing.trim();
    } catch (err) {
      if (err instanceof SyncError) throw err;
      throw bad('a certificate or the key is not valid PEM');
    }
    const notBefore = Date.parse(leaf.validFrom);
    const notAfter = Date.parse(leaf.validTo);
    if (!Number.isFinite(notAfter) || !Number.isFinite(notBefore) || notAfter <= notBefore)
      throw bad('no valid validity period');
    // From now, not from notBefore: Vault backdates notBefore (30 s by default), and a renewBefore
    // taken from that longer span would re-issue a short-lived certificate at once, again and again.
    const lifetimeMs = Math.max(0, notAfter - Math.max(notBefore, deps.clock.now()));
    return {
      leaseId: '',
      renewable: false,
      data: {
        'tls.crt': [certificate.trim(), ...intermediates].join('\n') + '\n',
        'tls.key': key.trim() + '\n',
        'ca.crt': root + '\n',
      },
      durationMs: lifetimeMs,
      expiresAt: notAfter,
      hardExpiresAt: notAfter,
      renewBeforeMs: effectiveRenewBeforeMs(renewBefore, lifetimeMs),
    };
  };
  return { fingerprint, path, issue };
}
