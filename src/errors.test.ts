/** docs/operations.md's "Troubleshooting by reason" table against the catalog: every reason a SecretSync's Ready can carry. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { reasons } from './errors.js';

/** The reasons in the first column of the table under "## Troubleshooting by reason". */
function documentedReasons(): string[] {
  const doc = readFileSync(new URL('../docs/operations.md', import.meta.url), 'utf8');
  const start = doc.indexOf('## Troubleshooting by reason');
  if (start === -1) throw new Error('docs/operations.md has no "Troubleshooting by reason" section');
  const section = doc.slice(
    start,
    doc.indexOf('\n## ', start + 1) === -1 ? undefined : doc.indexOf('\n## ', start + 1),
  );
  return [...section.matchAll(/^\| `([A-Za-z]+)`/gm)].map((m) => m[1]!);
}

describe('the troubleshooting table of docs/operations.md', () => {
  it('explains every failure reason of the catalog, and Synced, each once', () => {
    const documented = documentedReasons();
    expect([...documented].sort()).toEqual(['Synced', ...Object.keys(reasons)].sort());
  });
});
