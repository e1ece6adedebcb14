/**
 * `npm run cluster:up`: starts the node of the cluster test (test/cluster/node.ts) and keeps it
 * running until Ctrl-C, printing a kubectl command line for its admin kubeconfig.
 */
import { Cluster } from './node.js';

const cluster = await Cluster.start({ log: (l) => process.stderr.write(`${l}\n`), keep: true });
process.stdout.write(
  `cluster up: ${cluster.env.bins.kubectl} --kubeconfig=${cluster.env.adminKubeconfig} get pods -A\n` +
    `OpenBao for pods: ${cluster.vaultNodeAddr} (root token in ${cluster.dir}/root-token)\n`,
);
const { writeFileSync } = await import('node:fs');
writeFileSync(`${cluster.dir}/root-token`, cluster.env.rootToken, { mode: 0o600 });
let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  process.stderr.write('stopping the cluster...\n');
  await cluster.stop();
  process.exit(0);
};
process.on('SIGINT', () => void stop());
process.on('SIGTERM', () => void stop());
