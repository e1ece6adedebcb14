/** A log destination for tests: the lines written to it, in order. */
import { Writable } from 'node:stream';

export function capture(): { lines: string[]; destination: Writable } {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer | string, _enc, done) {
      lines.push(
        ...String(chunk)
          .split('\n')
          .filter((l) => l !== ''),
      );
      done();
    },
  });
  return { lines, destination };
}

/** Lets a logger's asynchronous writes reach the destination. */
export const tick = () => new Promise((r) => setImmediate(r));
