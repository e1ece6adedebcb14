import { describe, expect, it } from 'vitest';
import { WriteLimiter } from './limiter.js';

describe('WriteLimiter', () => {
  it('starts waiting writes by priority: background status writes after every Secret write waiting', async () => {
    const limiter = new WriteLimiter({ writeConcurrency: 1, writeQps: 1000 });
    const started: string[] = [];
    let release: () => void = () => undefined;
    const blocker = limiter.run(() => new Promise<void>((r) => (release = r)));
    const write = (name: string, priority?: number) =>
      limiter.run(
        () => {
          started.push(name);
          return Promise.resolve();
        },
        undefined,
        undefined,
        priority,
      );
    const all = [write('status-1', -1), write('secret-1'), write('status-2', -1), write('secret-2')];
    release();
    await Promise.all([blocker, ...all]);
    expect(started).toEqual(['secret-1', 'secret-2', 'status-1', 'status-2']);
  });
});
