/** The KMS v2 plugin (`vaultsync kms`): gRPC on a Unix socket, DEKs wrapped by Vault Transit. */
export { runKms, type KmsIo } from './run.js';
export { createKmsClient, type KmsClient } from './client.js';
export { keyIdOf, parseKeyId } from './transit.js';
export { KMS_HELP } from './options.js';
