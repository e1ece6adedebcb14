import type { IncomingMessage, ServerResponse } from 'node:http';
import { describe, expect, it } from 'vitest';
import { fakeVaultPerTest, rejection } from './testing/testkit.js';

const LEASE = 'database/creds/app/AbC123';

/** Lease endpoints of a Vault at the HTTP level; logins and everything else go to the fake. */
function leaseEndpoints(answers: Record<string, { status: number; body?: unknown }>) {
  const seen: { method: string; url: string; token: string | undefined }[] = [];
  const onRaw = (req: IncomingMessage, res: ServerResponse): boolean => {
    const url = req.url ?? '';
    if (url.startsWith('/v1/auth/')) return false;
    const token = req.headers['x-vault-token'];
    seen.push({ method: req.method ?? '', url, token: typeof token === 'string' ? token : undefined });
    const answer = answers[url] ?? { status: 404, body: { errors: [] } };
    res.writeHead(answer.status, { 'content-type': 'application/json' });
    res.end(answer.body === undefined ? '' : JSON.stringify(answer.body));
    return true;
  };
  return { seen, onRaw };
}

describe('Vault lease requests', () => {
  const vault = fakeVaultPerTest(() => undefined);
  const signal = new AbortController().signal;

  it('issues with the identity’s token and reads the lease', async () => {
    const h = vault.setup();
    const ep = leaseEndpoints({
      '/v1/database/creds/app': {
        status: 200,
        body: { lease_id: LEASE, lease_duration: 60, renewable: true, data: { username: 'u', password: 'p' } },
      },
    });
    vault.fake.onRaw = ep.onRaw;
    const got = await h.reader.leases.issue(
      { identity: h.id(), method: 'GET', path: 'database/creds/app', what: 'database credentials', hint: 'check' },
      signal,
    );
    expect(got).toEqual({
      leaseId: LEASE,
      leaseDurationSeconds: 60,
      renewable: true,
      data: { username: 'u', password: 'p' },
    });
    expect(ep.seen[0]?.token).toBe(vault.fake.issuedToken(1));
    expect(h.metrics.counts.requests.get('issue 200')).toBe(1);
  });

  it('renews and revokes by the lease id in the URL, so a policy can scope them', async () => {
    const h = vault.setup();
    const ep = leaseEndpoints({
      [`/v1/sys/leases/renew/${LEASE}`]: {
        status: 200,
        body: { lease_id: LEASE, lease_duration: 42, renewable: true },
      },
      [`/v1/sys/leases/revoke/${LEASE}`]: { status: 204 },
    });
    vault.fake.onRaw = ep.onRaw;
    const renewal = await h.reader.leases.renew({ identity: h.id(), leaseId: LEASE, incrementSeconds: 60 }, signal);
    expect(renewal).toEqual({ leaseDurationSeconds: 42, renewable: true });
    expect(vault.fake.requests.find((r) => r.url.includes('/renew/'))?.body).toEqual({ increment: 60 });
    await h.reader.leases.revoke({ identity: h.id(), leaseId: LEASE }, signal);
    expect(ep.seen.map((s) => `${s.method} ${s.url}`)).toEqual([
      `POST /v1/sys/leases/renew/${LEASE}`,
      `POST /v1/sys/leases/revoke/${LEASE}`,
    ]);
  });

  it('a lease Vault no longer holds is gone; an outage is VaultUnavailable without the lease id', async () => {
    const h = vault.setup();
    const ep = leaseEndpoints({
      [`/v1/sys/leases/renew/${LEASE}`]: { status: 400, body: { errors: ['lease not found'] } },
      [`/v1/sys/leases/revoke/${LEASE}`]: { status: 500, body: { errors: [`failed to revoke ${LEASE}`] } },
    });
    vault.fake.onRaw = ep.onRaw;
    expect(await h.reader.leases.renew({ identity: h.id(), leaseId: LEASE }, signal)).toBe('gone');
    const err = await rejection(h.reader.leases.revoke({ identity: h.id(), leaseId: LEASE }, signal));
    expect(err.reason).toBe('VaultUnavailable');
    expect(err.message).not.toContain(LEASE);
  });

  it('refuses a lease id that would leave sys/leases (a hostile Vault)', async () => {
    const h = vault.setup();
    const err = await rejection(
      h.reader.leases.revoke({ identity: h.id(), leaseId: 'a/../../auth/token/create' }, signal),
    );
    expect(err.reason).toBe('BadVaultData');
    expect(err.message).not.toContain('auth/token');
  });

  it('a 403 logs in again once, then reports VaultForbidden naming the policy', async () => {
    const h = vault.setup();
    const ep = leaseEndpoints({
      [`/v1/sys/leases/renew/${LEASE}`]: { status: 403, body: { errors: ['permission denied'] } },
    });
    vault.fake.onRaw = ep.onRaw;
    const err = await rejection(h.reader.leases.renew({ identity: h.id(), leaseId: LEASE }, signal));
    expect(err.reason).toBe('VaultForbidden');
    expect(err.message).toMatch(/policy/);
    expect(vault.fake.logins).toHaveLength(2);
  });
});
