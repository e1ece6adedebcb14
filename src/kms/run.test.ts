import { describe, expect, it } from 'vitest';
import { capture, tick } from '../log/testing/capture.js';
import { parseKmsArgs } from './options.js';
import { kmsLogger, runKms } from './run.js';

const flags = ['--vault-address=https://vault:8200', '--transit-key=k', '--auth=token-file', '--token-file=/t'];

describe('vaultsync kms --log-format, as vaultsync run', () => {
  it('json by default: ISO-8601 UTC time and the level as a word', async () => {
    const { lines, destination } = capture();
    const log = kmsLogger(parseKmsArgs(flags), destination);
    log.info({ socket: '/run/kms.sock' }, 'KMS v2 plugin serving');
    await tick();
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!)).toEqual({
      level: 'info',
      time: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/) as unknown,
      app: 'vaultsync-kms',
      socket: '/run/kms.sock',
      msg: 'KMS v2 plugin serving',
    });
  });

  it('text: <time> <LEVEL> <message> key=value, at --log-level', async () => {
    const { lines, destination } = capture();
    const opts = parseKmsArgs([...flags, '--log-format=text', '--log-level=warn']);
    expect(opts).toMatchObject({ logFormat: 'text', logLevel: 'warn' });
    const log = kmsLogger(opts, destination);
    log.info({}, 'below the level');
    log.warn({ reason: 'VaultUnavailable', seconds: 2 }, 'Vault did not answer renew');
    await tick();
    expect(lines).toEqual([
      expect.stringMatching(
        /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z WARN Vault did not answer renew reason=VaultUnavailable seconds=2$/,
      ),
    ]);
  });

  it('refuses another format with a usage error (exit 2)', async () => {
    expect(() => parseKmsArgs([...flags, '--log-format=logfmt'])).toThrow(
      '--log-format must be json or text, not "logfmt"',
    );
    const err: string[] = [];
    const code = await runKms([...flags, '--log-format=yaml'], { stdout: () => undefined, stderr: (s) => err.push(s) });
    expect(code).toBe(2);
    expect(err.join('')).toContain('--log-format must be json or text');
  });
});
