/** Where the harness finds its binaries: the env file test/env/build.sh writes, or overrides. */
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

export interface Binaries {
  etcd: string;
  kubeApiserver: string;
  kubectl: string;
  vault: string;
  helm: string;
}

const KEYS = {
  etcd: 'VAULTSYNC_ETCD_BIN',
  kubeApiserver: 'VAULTSYNC_KUBE_APISERVER_BIN',
  kubectl: 'VAULTSYNC_KUBECTL_BIN',
  vault: 'VAULTSYNC_VAULT_BIN',
  helm: 'VAULTSYNC_HELM_BIN',
} as const;

export function cacheDir(env = process.env): string {
  return env.VAULTSYNC_CACHE ?? join(homedir(), '.cache', 'vaultsync');
}

/** Fails loudly, naming the command to run, when a binary is missing: e2e tests never skip silently. */
export function findBinaries(env = process.env): Binaries {
  const file = join(cacheDir(env), 'testenv.env');
  const fromFile: Record<string, string> = {};
  if (existsSync(file)) {
    for (const line of readFileSync(file, 'utf8').split('\n')) {
      const m = /^([A-Z_]+)=(.*)$/.exec(line.trim());
      if (m?.[1] && m[2] !== undefined) fromFile[m[1]] = m[2];
    }
  }
  const assets = env.KUBEBUILDER_ASSETS;
  const pick = (name: keyof Binaries, assetName?: string): string => {
    const v = env[KEYS[name]] ?? (assets && assetName ? join(assets, assetName) : undefined) ?? fromFile[KEYS[name]];
    if (!v || !existsSync(v)) {
      throw new Error(
        `test binary ${name} not found (${v ?? `no ${KEYS[name]} in ${file}`}): run \`npm run testenv:build\` first`,
      );
    }
    return v;
  };
  return {
    etcd: pick('etcd', 'etcd'),
    kubeApiserver: pick('kubeApiserver', 'kube-apiserver'),
    kubectl: pick('kubectl', 'kubectl'),
    vault: pick('vault'),
    helm: pick('helm'),
  };
}
