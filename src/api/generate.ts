import { configurationDoc } from '../config.js';
import { renderCrdYaml } from './crd.js';
import { renderReference } from './reference.js';

export interface GeneratedFile {
  /** Path relative to the repository root. */
  path: string;
  content: string;
}

/** Every file `npm run gen` writes (from schema.ts and config.ts); CI and crd.test.ts fail when one is stale. */
export function generatedFiles(): GeneratedFile[] {
  return [
    { path: 'crds/vaultsync.io_secretsyncs.yaml', content: renderCrdYaml() },
    { path: 'docs/reference/secretsync.md', content: renderReference() },
    { path: 'docs/configuration.md', content: configurationDoc() },
  ];
}
