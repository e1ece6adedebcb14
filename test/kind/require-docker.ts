/**
 * Global setup of the test/kind suite: without a reachable Docker engine the suite fails here,
 * loudly, before any test. It never skips: a machine without an engine has not run it, so it
 * has not passed.
 */
import { getContainerRuntimeClient } from 'testcontainers';

export default async function requireDocker(): Promise<void> {
  try {
    const client = await getContainerRuntimeClient();
    process.stderr.write(
      `test/kind: container engine ${client.info.containerRuntime.host} (server ${client.info.containerRuntime.serverVersion})\n`,
    );
  } catch (err) {
    const detail = err instanceof Error ? err.message : String(err);
    throw new Error(
      `test/kind needs a Docker engine and none is reachable (${detail}). ` +
        'This suite did NOT run and has NOT passed. Start Docker (or set DOCKER_HOST) and run `npm run test:kind` again.',
    );
  }
}
