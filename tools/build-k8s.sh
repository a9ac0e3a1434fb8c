#!/usr/bin/env bash
# Builds the Kubernetes test binaries from the Go module proxy and caches them by version outside the
# checkout: kube-apiserver, kubectl and etcd (integration tests), kube-controller-manager and kube-proxy
# (the lab and its end-to-end tests). A second run, also from a fresh clone, builds nothing; a cache that
# lacks some binaries (an older checkout filled it) gets only the missing ones built.
#
#   BAREGATE_CACHE   cache root (default: $XDG_CACHE_HOME/baregate or ~/.cache/baregate)
#   K8S_VERSION      Kubernetes release to build (default below; must be >= 1.33)
#
# Prints the binary directory on its last line of stdout; progress goes to stderr.
set -euo pipefail

K8S_VERSION="${K8S_VERSION:-v1.34.4}"
CACHE="${BAREGATE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/baregate}"
BIN="$CACHE/k8s/$K8S_VERSION/bin"
log() { printf '[build-k8s %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

K8S_COMMANDS=(kube-apiserver kubectl kube-controller-manager kube-proxy)
missing=()
for c in "${K8S_COMMANDS[@]}"; do [[ -x "$BIN/$c" ]] || missing+=("$c"); done
need_etcd=1; [[ -x "$BIN/etcd" ]] && need_etcd=0
if [[ ${#missing[@]} -eq 0 && $need_etcd -eq 0 ]]; then
  log "cached: $BIN"
  echo "$BIN"
  exit 0
fi

command -v go >/dev/null || { log "go is not installed: it is needed to build the test cluster binaries"; exit 1; }
export GOFLAGS="-mod=mod"
export GOTOOLCHAIN="${GOTOOLCHAIN:-local}"
export CGO_ENABLED=0

work="$CACHE/k8s/$K8S_VERSION/src"
rm -rf "$BIN.partial"
mkdir -p "$work/apiserver" "$work/etcd" "$BIN.partial"
# Binaries already built stay; the new ones join them when all are done.
[[ -d "$BIN" ]] && cp -a "$BIN/." "$BIN.partial/"
minor_patch="${K8S_VERSION#v1.}"          # e.g. 34.4
staging_version="v0.$minor_patch"          # staging modules are tagged v0.MINOR.PATCH

log "fetching k8s.io/kubernetes@$K8S_VERSION go.mod"
gomod=$(cd "$work/apiserver" && go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",\{0,1\}$/\1/p')
[[ -f "$gomod" ]] || { log "could not download k8s.io/kubernetes@$K8S_VERSION"; exit 1; }

# Every staging module is replaced by a relative path in Kubernetes' own go.mod; outside that
# repository we map each one to its published v0.MINOR.PATCH tag. The list comes from the pinned go.mod.
replaces=$(sed -n 's#^[[:space:]]*\(k8s\.io/[A-Za-z0-9._/-]*\) => \./staging/src/.*$#\1#p' "$gomod")
[[ -n "$replaces" ]] || { log "no staging replace lines found in $gomod"; exit 1; }
go_directive=$(sed -n 's/^go \([0-9.]*\)$/\1/p' "$gomod" | head -n1)
{
  echo "module baregate.test/k8sbuild"
  echo
  echo "go $go_directive"
  echo
  echo "require k8s.io/kubernetes $K8S_VERSION"
  echo
  for m in $replaces; do echo "replace $m => $m $staging_version"; done
} > "$work/apiserver/go.mod"
log "wrapper module maps $(wc -w <<<"$replaces") staging modules to $staging_version"

etcd_version=$(sed -n 's#^[[:space:]]*go\.etcd\.io/etcd/server/v3 \(v[0-9.]*\).*$#\1#p' "$gomod" | head -n1)
[[ -n "$etcd_version" ]] || { log "no etcd server version in $gomod"; exit 1; }

if [[ ${#missing[@]} -gt 0 ]]; then
  pkgs=(); for c in "${missing[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/$c"); done
  log "building ${missing[*]} $K8S_VERSION (cold: several minutes per binary on 2 cores)"
  (cd "$work/apiserver" && go build -trimpath -ldflags "-s -w -X k8s.io/component-base/version.gitVersion=$K8S_VERSION -X k8s.io/client-go/pkg/version.gitVersion=$K8S_VERSION" \
    -o "$BIN.partial/" "${pkgs[@]}")
  log "${missing[*]} built"
fi

if [[ $need_etcd -eq 1 ]]; then
  log "building etcd $etcd_version (pinned by Kubernetes $K8S_VERSION)"
  cat > "$work/etcd/go.mod" <<MOD
module baregate.test/etcdbuild

go $go_directive

require go.etcd.io/etcd/server/v3 $etcd_version
MOD
  (cd "$work/etcd" && go build -trimpath -ldflags "-s -w" -o "$BIN.partial/etcd" go.etcd.io/etcd/server/v3)
  log "etcd built"
fi

rm -rf "$BIN"
mv "$BIN.partial" "$BIN"
log "binaries ready in $BIN"
echo "$BIN"
