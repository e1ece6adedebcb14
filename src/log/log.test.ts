import { describe, expect, it } from 'vitest';
import { createLogger, toText } from './index.js';
import { capture, tick } from './testing/capture.js';

describe('createLogger', () => {
  it('json: one object a line, ISO time in UTC, the level as a word, base fields', async () => {
    const { lines, destination } = capture();
    const log = createLogger({ level: 'info', format: 'json', base: { app: 'vaultsync' }, destination });
    log.info({ queued: 2, key: 'global' }, 'webhook: refresh');
    log.debug({}, 'not at info');
    log.child({ ns: 'team-a' }).warn({ reason: 'VaultForbidden' }, 'sync failed');
    await tick();
    expect(lines).toHaveLength(2);
    const first = JSON.parse(lines[0]!) as Record<string, unknown>;
    expect(first).toEqual({
      level: 'info',
      time: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/) as unknown,
      app: 'vaultsync',
      queued: 2,
      key: 'global',
      msg: 'webhook: refresh',
    });
    expect(JSON.parse(lines[1]!)).toMatchObject({ level: 'warn', ns: 'team-a', reason: 'VaultForbidden' });
  });

  it('text: time, LEVEL, message, then key=value, quoting what needs it', async () => {
    const { lines, destination } = capture();
    const log = createLogger({ level: 'debug', format: 'text', base: { app: 'vaultsync' }, destination });
    log.child({ ns: 'team-a' }).error({ why: 'has spaces "and quotes"', n: 3, ok: true, list: ['a'] }, 'it failed');
    await tick();
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(
      /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z ERROR it failed ns=team-a why="has spaces \\"and quotes\\"" n=3 ok=true list=\["a"\]$/,
    );
  });

  it('a line that is not JSON passes through unchanged', () => {
    expect(toText('plain')).toBe('plain');
  });
});
