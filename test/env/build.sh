#!/usr/bin/env bash
# Builds the real binaries the end-to-end test environment runs (etcd,
# kube-apiserver, kubectl, OpenBao `bao`, helm) from the pinned Go modules
# under test/env/tools/, into a cache outside the repository:
#
#   ${VAULTSYNC_CACHE:-$HOME/.cache/vaultsync}/bin/<name>-<version>/<binary>
#
# and writes ${cache}/testenv.env with one KEY=/abs/path line per binary.
# Only what is missing is built; a second run reuses everything.
# See test/env/README.md.
set -euo pipefail

usage() {
  cat <<'EOF'
usage: test/env/build.sh [--print-env] [--eso] [--node] [--help]

  --print-env  also print the env file (KEY=/abs/path lines) on stdout;
               all progress goes to stderr
  --eso        also build External Secrets Operator (bench/tools), which is
               not part of the default set
  --node       also build kubelet, kube-controller-manager, kube-scheduler and
               kube-proxy (tools/kubenode, same k8s.io/kubernetes version) for
               the cluster test (docs/cluster-testing.md); not in the default set

Environment:
  VAULTSYNC_CACHE        cache root (default: $HOME/.cache/vaultsync)
  KUBEBUILDER_ASSETS     folder holding etcd, kube-apiserver, kubectl: used
                         instead of building them
  VAULTSYNC_VAULT_BIN    an existing bao/vault binary: used instead of building
  VAULTSYNC_HELM_BIN     an existing helm binary: used instead of building
  VAULTSYNC_ETCD_BIN, VAULTSYNC_KUBE_APISERVER_BIN, VAULTSYNC_KUBECTL_BIN
                         per-binary overrides (take precedence over
                         KUBEBUILDER_ASSETS)
EOF
}

PRINT_ENV=0
WITH_ESO=0
WITH_NODE=0
for arg in "$@"; do
  case "$arg" in
    --print-env) PRINT_ENV=1 ;;
    --eso) WITH_ESO=1 ;;
    --node) WITH_NODE=1 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "build.sh: unknown argument: $arg" >&2; usage >&2; exit 2 ;;
  esac
done

log() { echo "[test/env/build] $*" >&2; }
die() { echo "[test/env/build] ERROR: $*" >&2; exit 1; }

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
TOOLS="$HERE/tools"

CACHE="${VAULTSYNC_CACHE:-${HOME:?HOME is not set}/.cache/vaultsync}"
mkdir -p "$CACHE/bin"
CACHE="$(cd "$CACHE" && pwd)"
BIN="$CACHE/bin"
ENV_FILE="$CACHE/testenv.env"

# Reads the version that a module's go.mod requires for a dependency.
modver() { # <go.mod> <module path>
  local v
  v="$(awk -v m="$2" '($1 == m && $2 ~ /^v/) { print $2; exit } ($1 == "require" && $2 == m) { print $3; exit }' "$1")"
  [[ -n "$v" ]] || die "$2 is not required in $1"
  echo "$v"
}

K8S_VERSION="$(modver "$TOOLS/kube/go.mod" k8s.io/kubernetes)"        # v1.35.4
ETCD_VERSION="$(modver "$TOOLS/etcd/go.mod" go.etcd.io/etcd/server/v3)" # v3.6.16
HELM_VERSION="$(modver "$TOOLS/helm/go.mod" helm.sh/helm/v4)"          # v4.3.1
OPENBAO_PSEUDO="$(modver "$TOOLS/openbao/go.mod" github.com/openbao/openbao)"
# OpenBao's root module has no /v2 suffix, so its releases can only be pinned
# by pseudo-version; this maps the pinned commit to its release tag.
OPENBAO_VERSION="v2.4.0"
OPENBAO_COMMIT="f9407a27fbee45f62ba521bba2bf1e2360c61031"
[[ "$OPENBAO_PSEUDO" == *"-${OPENBAO_COMMIT:0:12}" ]] ||
  die "tools/openbao/go.mod pins $OPENBAO_PSEUDO, but build.sh maps only commit ${OPENBAO_COMMIT:0:12} to $OPENBAO_VERSION: update OPENBAO_VERSION/OPENBAO_COMMIT"

ESO_VERSION=""
if [[ "$WITH_ESO" == 1 ]]; then
  [[ -f "$REPO/bench/tools/go.mod" ]] || die "--eso: $REPO/bench/tools/go.mod not found"
  ESO_VERSION="$(modver "$REPO/bench/tools/go.mod" github.com/external-secrets/external-secrets)"
fi

# One build at a time per cache (two cores; and concurrent runs would race).
if command -v flock >/dev/null 2>&1; then
  exec 9>"$CACHE/.build.lock"
  if ! flock -n 9; then
    log "another build.sh holds $CACHE/.build.lock; waiting"
    flock 9
  fi
fi

GO_CHECKED=0
need_go() {
  [[ "$GO_CHECKED" == 1 ]] && return 0
  command -v go >/dev/null 2>&1 || die "go is not on PATH (Go >= 1.26 is needed to build the test binaries)"
  log "using $(go version)"
  GO_CHECKED=1
}

TOTAL_BUILD_SECONDS=0

# Cold build seconds measured on the idle 2-core machine (test/env/README.md, "Cost"); only used
# to tell the user up front how long to expect.
cold_seconds() {
  case "$1" in
    etcd) echo 51 ;; kube-apiserver) echo 448 ;; kubectl) echo 37 ;; openbao) echo 220 ;;
    helm) echo 148 ;; external-secrets) echo 293 ;;
    kubelet) echo 300 ;; kube-controller-manager) echo 300 ;; kube-scheduler) echo 150 ;; kube-proxy) echo 150 ;;
    *) echo 120 ;;
  esac
}
mmss() { printf '%dm%02ds' $(( $1 / 60 )) $(( $1 % 60 )); }

# The whole selection below runs twice: MODE=plan only records what must be built (PLANNED), so
# the user hears up front what is coming and how long it takes; MODE=build does it.
MODE=plan
PLANNED=()
STEP=0
BUILT_SUMMARY=()
HEARTBEAT=""
stop_heartbeat() {
  if [[ -n "$HEARTBEAT" ]]; then
    kill "$HEARTBEAT" 2>/dev/null || true
    wait "$HEARTBEAT" 2>/dev/null || true
    HEARTBEAT=""
  fi
}
trap stop_heartbeat EXIT

# build <name> <version> <module dir> <binary> <package> [go build flags...]
# Builds into a temporary folder and renames it into place, so an interrupted
# build never leaves a half-written binary that a later run would reuse.
build() {
  local name="$1" version="$2" moddir="$3" binary="$4" pkg="$5"
  shift 5
  local dest="$BIN/$name-$version"
  # The recipe: the module's pins plus what is passed to go build. A binary
  # built from another recipe (same version, changed flags or go.sum) is rebuilt.
  local recipe
  recipe="$( { cat "$moddir/go.mod" "$moddir/go.sum"; printf '%s\n' "$pkg" "$@"; } | sha256sum | cut -c1-16)"
  if [[ -x "$dest/$binary" && "$(cat "$dest/.recipe" 2>/dev/null)" == "$recipe" ]]; then
    [[ "$MODE" == build ]] && log "reusing $name $version: $dest/$binary"
    RESULT="$dest/$binary"
    return 0
  fi
  if [[ "$MODE" == plan ]]; then
    PLANNED+=("$name")
    RESULT=""
    return 0
  fi
  if [[ -e "$dest" ]]; then
    log "$dest was built from another recipe (go.mod/go.sum/flags changed); rebuilding"
  fi
  need_go
  local tmp start secs label
  STEP=$(( STEP + 1 ))
  label="[$STEP/${#PLANNED[@]}] $name $version"
  tmp="$(mktemp -d "$BIN/.tmp-$name-$version.XXXXXX")"
  log "$label: building ($pkg; about $(mmss "$(cold_seconds "$name")") when Go's build cache is cold) ..."
  start="$(date +%s)"
  # go build prints nothing while it compiles (kube-apiserver: ~7 minutes), so say it is alive.
  # Its sleep must not hold the lock (fd 9) or this script's stderr (a pipe to tee, say) open.
  (
    trap 'kill "$sleeper" 2>/dev/null; exit 0' TERM
    while :; do
      sleep 60 >/dev/null 2>&1 9>&- &
      sleeper=$!
      wait "$sleeper"
      log "$label: still building, $(mmss $(( $(date +%s) - start ))) so far"
    done
  ) 9>&- &
  HEARTBEAT=$!
  if ! (cd "$moddir" && GOWORK=off CGO_ENABLED=0 go build -mod=readonly -trimpath "$@" -o "$tmp/$binary" "$pkg"); then
    stop_heartbeat
    rm -rf "$tmp"
    die "building $name $version failed (go build $pkg in $moddir); see the go output above"
  fi
  stop_heartbeat
  echo "$recipe" >"$tmp/.recipe"
  chmod 755 "$tmp" # mktemp -d makes it 0700
  secs=$(( $(date +%s) - start ))
  TOTAL_BUILD_SECONDS=$(( TOTAL_BUILD_SECONDS + secs ))
  BUILT_SUMMARY+=("$name ${secs}s")
  rm -rf "$dest"
  mv "$tmp" "$dest"
  log "$label: built in $(mmss "$secs") (${secs}s), $(du -sh "$dest/$binary" | cut -f1): $dest/$binary"
  RESULT="$dest/$binary"
}

# use_existing <VAR> <path> <what>: an externally supplied binary.
use_existing() {
  local var="$1" path="$2" what="$3"
  if [[ "$MODE" == plan ]]; then RESULT="$path"; return 0; fi
  [[ -f "$path" && -x "$path" ]] || die "$what: $path is not an executable file"
  path="$(cd "$(dirname "$path")" && pwd)/$(basename "$path")"
  log "using $var from $what: $path"
  RESULT="$path"
}

RUN_START="$(date +%s)"
RESULT=""

select_binaries() {
  # --- kube-apiserver, kubectl, etcd (or KUBEBUILDER_ASSETS) ---------------------
  K8S_LDFLAGS="-s -w"
  K8S_BUILD_DATE="2026-04-15T18:01:22Z" # commit time of k8s.io/kubernetes v1.35.4 (proxy .info)
  for pkgvar in k8s.io/client-go/pkg/version k8s.io/component-base/version; do
    K8S_LDFLAGS+=" -X $pkgvar.gitVersion=$K8S_VERSION"
    K8S_LDFLAGS+=" -X $pkgvar.gitMajor=$(echo "${K8S_VERSION#v}" | cut -d. -f1)"
    K8S_LDFLAGS+=" -X $pkgvar.gitMinor=$(echo "${K8S_VERSION#v}" | cut -d. -f2)"
    K8S_LDFLAGS+=" -X $pkgvar.gitCommit=" # the module zip carries no commit; empty beats "\$Format:%H\$"
    K8S_LDFLAGS+=" -X $pkgvar.gitTreeState=clean"
    K8S_LDFLAGS+=" -X $pkgvar.buildDate=$K8S_BUILD_DATE"
  done
  # Same tags as Kubernetes' own release builds (hack/lib/golang.sh).
  K8S_TAGS="selinux,notest,grpcnotrace"

  if [[ -n "${VAULTSYNC_ETCD_BIN:-}" ]]; then
    use_existing VAULTSYNC_ETCD_BIN "$VAULTSYNC_ETCD_BIN" VAULTSYNC_ETCD_BIN
  elif [[ -n "${KUBEBUILDER_ASSETS:-}" ]]; then
    use_existing VAULTSYNC_ETCD_BIN "$KUBEBUILDER_ASSETS/etcd" KUBEBUILDER_ASSETS
  else
    build etcd "$ETCD_VERSION" "$TOOLS/etcd" etcd ./cmd/etcd -ldflags="-s -w"
  fi
  ETCD_BIN="$RESULT"

  if [[ -n "${VAULTSYNC_KUBE_APISERVER_BIN:-}" ]]; then
    use_existing VAULTSYNC_KUBE_APISERVER_BIN "$VAULTSYNC_KUBE_APISERVER_BIN" VAULTSYNC_KUBE_APISERVER_BIN
  elif [[ -n "${KUBEBUILDER_ASSETS:-}" ]]; then
    use_existing VAULTSYNC_KUBE_APISERVER_BIN "$KUBEBUILDER_ASSETS/kube-apiserver" KUBEBUILDER_ASSETS
  else
    build kube-apiserver "$K8S_VERSION" "$TOOLS/kube" kube-apiserver k8s.io/kubernetes/cmd/kube-apiserver \
      -tags="$K8S_TAGS" -ldflags="$K8S_LDFLAGS"
  fi
  KUBE_APISERVER_BIN="$RESULT"

  if [[ -n "${VAULTSYNC_KUBECTL_BIN:-}" ]]; then
    use_existing VAULTSYNC_KUBECTL_BIN "$VAULTSYNC_KUBECTL_BIN" VAULTSYNC_KUBECTL_BIN
  elif [[ -n "${KUBEBUILDER_ASSETS:-}" ]]; then
    use_existing VAULTSYNC_KUBECTL_BIN "$KUBEBUILDER_ASSETS/kubectl" KUBEBUILDER_ASSETS
  else
    build kubectl "$K8S_VERSION" "$TOOLS/kube" kubectl k8s.io/kubernetes/cmd/kubectl \
      -tags="$K8S_TAGS" -ldflags="$K8S_LDFLAGS"
  fi
  KUBECTL_BIN="$RESULT"

  # --- OpenBao (the Vault API server) --------------------------------------------
  if [[ -n "${VAULTSYNC_VAULT_BIN:-}" ]]; then
    use_existing VAULTSYNC_VAULT_BIN "$VAULTSYNC_VAULT_BIN" VAULTSYNC_VAULT_BIN
  else
    build openbao "$OPENBAO_VERSION" "$TOOLS/openbao" bao github.com/openbao/openbao \
      -ldflags="-s -w -X github.com/openbao/openbao/version.fullVersion=${OPENBAO_VERSION#v} -X github.com/openbao/openbao/version.GitCommit=$OPENBAO_COMMIT -X github.com/openbao/openbao/version.BuildDate=2025-08-28T20:23:15Z"
  fi
  VAULT_BIN="$RESULT"

  # --- helm ------------------------------------------------------------------------
  if [[ -n "${VAULTSYNC_HELM_BIN:-}" ]]; then
    use_existing VAULTSYNC_HELM_BIN "$VAULTSYNC_HELM_BIN" VAULTSYNC_HELM_BIN
  else
    build helm "$HELM_VERSION" "$TOOLS/helm" helm helm.sh/helm/v4/cmd/helm \
      -ldflags="-s -w -X helm.sh/helm/v4/internal/version.version=$HELM_VERSION -X helm.sh/helm/v4/internal/version.gitTreeState=clean"
  fi
  HELM_BIN="$RESULT"

  # --- optional: External Secrets Operator (benchmarks only) ----------------------
  # --- optional: the node's and control plane's other binaries (cluster test) ------
  NODE_LINES=()
  if [[ "$WITH_NODE" == 1 ]]; then
    local comp var
    for comp in kubelet kube-controller-manager kube-scheduler kube-proxy; do
      build "$comp" "$K8S_VERSION" "$TOOLS/kubenode" "$comp" "k8s.io/kubernetes/cmd/$comp" \
        -tags="$K8S_TAGS" -ldflags="$K8S_LDFLAGS"
      var="VAULTSYNC_$(echo "$comp" | tr 'a-z-' 'A-Z_')_BIN"
      NODE_LINES+=("$var=$RESULT")
    done
  fi

  ESO_BIN=""
  if [[ "$WITH_ESO" == 1 ]]; then
    build external-secrets "$ESO_VERSION" "$REPO/bench/tools" external-secrets github.com/external-secrets/external-secrets \
      -ldflags="-s -w"
    ESO_BIN="$RESULT"
  fi
}

select_binaries
if [[ "${#PLANNED[@]}" -gt 0 ]]; then
  estimate=0
  for name in "${PLANNED[@]}"; do estimate=$(( estimate + $(cold_seconds "$name") )); done
  log "to build from their Go modules, one after the other: ${PLANNED[*]}"
  log "from a cold Go build cache this takes about $(( (estimate + 30) / 60 )) minutes on an idle 2-core machine (longer"
  log "when it is busy) and up to ~7 GB of disk for Go's caches; it happens once: later runs"
  log "reuse the binaries in $BIN"
fi
MODE=build
select_binaries

# --- env file --------------------------------------------------------------------
tmp_env="$(mktemp "$CACHE/.testenv.env.XXXXXX")"
{
  echo "VAULTSYNC_ETCD_BIN=$ETCD_BIN"
  echo "VAULTSYNC_KUBE_APISERVER_BIN=$KUBE_APISERVER_BIN"
  echo "VAULTSYNC_KUBECTL_BIN=$KUBECTL_BIN"
  echo "VAULTSYNC_VAULT_BIN=$VAULT_BIN"
  echo "VAULTSYNC_HELM_BIN=$HELM_BIN"
  if [[ -n "$ESO_BIN" ]]; then echo "VAULTSYNC_ESO_BIN=$ESO_BIN"; fi
  if [[ "${#NODE_LINES[@]}" -gt 0 ]]; then printf '%s\n' "${NODE_LINES[@]}"; fi
} >"$tmp_env"
# Keep an ESO line written by an earlier --eso run if that binary still exists.
if [[ -z "$ESO_BIN" && -f "$ENV_FILE" ]]; then
  prev_eso="$(sed -n 's/^VAULTSYNC_ESO_BIN=//p' "$ENV_FILE" | head -n1)"
  if [[ -n "$prev_eso" && -x "$prev_eso" ]]; then echo "VAULTSYNC_ESO_BIN=$prev_eso" >>"$tmp_env"; fi
fi
# Keep the node binaries' lines written by an earlier --node run if those binaries still exist.
if [[ "${#NODE_LINES[@]}" == 0 && -f "$ENV_FILE" ]]; then
  while IFS= read -r line; do
    if [[ -x "${line#*=}" ]]; then echo "$line" >>"$tmp_env"; fi
  done < <(grep -E '^VAULTSYNC_(KUBELET|KUBE_CONTROLLER_MANAGER|KUBE_SCHEDULER|KUBE_PROXY)_BIN=' "$ENV_FILE" || true)
fi
chmod 644 "$tmp_env" # mktemp makes it 0600
mv "$tmp_env" "$ENV_FILE"

if [[ "${#BUILT_SUMMARY[@]}" -gt 0 ]]; then
  log "built ${#BUILT_SUMMARY[@]}: $(IFS=,; echo "${BUILT_SUMMARY[*]}" | sed 's/,/, /g')"
fi
log "done in $(( $(date +%s) - RUN_START ))s (go build time ${TOTAL_BUILD_SECONDS}s); cache $BIN uses $(du -sh "$BIN" | cut -f1)"
log "env file: $ENV_FILE"
if [[ "$PRINT_ENV" == 1 ]]; then
  cat "$ENV_FILE"
fi
