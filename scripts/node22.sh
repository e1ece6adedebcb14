#!/usr/bin/env bash
# Runs a command with a Node.js >= 22 first on PATH: the machine's own when it is new enough,
# otherwise Node 24 that scripts/ensure-node.sh fetches once into the cache. Every npm script that
# runs project code goes through it, so `npm run demo` and `npm test` work on a machine whose Node
# is older, with no PATH change by hand.
# Usage (package.json): bash scripts/node22.sh <command> [args...]
set -euo pipefail
[[ $# -gt 0 ]] || { echo "usage: scripts/node22.sh <command> [args...]" >&2; exit 2; }
dir="$(bash "$(dirname "${BASH_SOURCE[0]}")/ensure-node.sh")"
export PATH="$dir:$PATH"
exec "$@"
