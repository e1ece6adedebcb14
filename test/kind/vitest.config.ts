import { defineConfig } from 'vitest/config';

/**
 * `npm run test:kind` only: a k3s cluster and Vault in Docker (testcontainers). Not part of the
 * default vitest projects (vitest.config.ts), which run without a container engine.
 */
export default defineConfig({
  test: {
    name: 'kind',
    include: ['test/kind/**/*.test.ts'],
    environment: 'node',
    globalSetup: ['test/kind/require-docker.ts'],
    testTimeout: 300_000,
    hookTimeout: 900_000,
    fileParallelism: false,
  },
});
