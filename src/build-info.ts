/**
 * What this build is, for `vaultsync version` and `vaultsync_build_info`: package.json's version,
 * the source revision where the build recorded one, and the Node.js version running it. Nothing
 * here comes from the cluster, Vault or the environment, so none of it can be secret.
 */
import { readFileSync } from 'node:fs';

export interface BuildInfo {
  version: string;
  /** Git commit the image was built from (Dockerfile ARG VAULTSYNC_REVISION); `unknown` otherwise. */
  revision: string;
  nodeVersion: string;
}

/** A commit hash, nothing else: whatever else a build wrote is not put in a label. */
const COMMIT = /^[0-9a-f]{7,40}$/;

/**
 * Reads `../package.json` and, if present, `./REVISION` beside this module (dist/REVISION, which
 * the Dockerfile writes). package.json's `gitHead` (set by some publishing tools) is the fallback.
 */
export function readBuildInfo(dir: URL = new URL('.', import.meta.url)): BuildInfo {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', dir), 'utf8')) as {
    version?: unknown;
    gitHead?: unknown;
  };
  const recorded = readOptional(new URL('REVISION', dir))?.trim() ?? pkg.gitHead;
  return {
    version: typeof pkg.version === 'string' ? pkg.version : 'unknown',
    revision: typeof recorded === 'string' && COMMIT.test(recorded) ? recorded : 'unknown',
    nodeVersion: process.version,
  };
}

function readOptional(file: URL): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    // Builds outside the Dockerfile (npm run build, tsx) record no revision.
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}
