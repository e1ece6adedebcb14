import { defineConfig } from 'vitest/config';

/**
 * `npm run test:cluster` only: the chart on a real node (test/cluster/node.ts). Not part of the
 * default vitest projects (vitest.config.ts): it needs root, Debian's containerd and the images
 * that test/cluster/prepare.sh builds, and takes minutes.
 */
export default defineConfig({
  test: {
    name: 'cluster',
    include: ['test/cluster/**/*.test.ts'],
    environment: 'node',
    testTimeout: 300_000,
    hookTimeout: 900_000,
    fileParallelism: false,
  },
});
