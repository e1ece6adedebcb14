import { describe, expect, it } from 'vitest';
import { parseKmsArgs } from './options.js';

const base = ['--vault-address=https://vault:8200', '--transit-key=kubernetes'];

describe('vaultsync kms flags', () => {
  it('has defaults that fit a static pod beside the apiserver', () => {
    const o = parseKmsArgs([...base, '--auth=token-file', '--token-file=/etc/kms/token']);
    expect(o).toMatchObject({
      socket: '/var/run/vaultsync-kms/kms.sock',
      listen: { host: '127.0.0.1', port: 8095 },
      transitMount: 'transit',
      transitKey: 'kubernetes',
      timeoutMs: 2_000,
      statusCacheMs: 10_000,
      statusFailCacheMs: 1_000,
    });
  });

  it.each([
    [['--auth=token-file'], '--token-file is required'],
    [['--auth=approle', '--approle-role-id-file=/r'], '--approle-secret-id-file is required'],
    [['--auth=cert'], '--client-cert-file is required'],
    [['--auth=root'], '--auth must be token-file, approle or cert'],
    [['--auth=token-file', '--token-file=/t', '--timeout=45s'], '--timeout must be above 0 and under 30s'],
    [['--auth=token-file', '--token-file=/t', '--transit-mount=../sys'], 'is not a mount path'],
    [['--auth=token-file', '--token-file=/t', '--client-cert-file=/c'], 'go together'],
    [['--auth=token-file', '--token-file=/t', '--bogus=1'], 'unknown flag --bogus'],
  ])('refuses %j', (extra, message) => {
    expect(() => parseKmsArgs([...base, ...extra])).toThrow(message);
  });

  it('needs https for TLS-certificate login', () => {
    expect(() =>
      parseKmsArgs([
        '--vault-address=http://vault:8200',
        '--transit-key=k',
        '--auth=cert',
        '--client-cert-file=/c',
        '--client-key-file=/k',
      ]),
    ).toThrow('needs an https --vault-address');
  });
});
