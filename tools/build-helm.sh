#!/usr/bin/env bash
# Builds `helm` from the Go module proxy and caches it by version outside the checkout, the way
# tools/build-k8s.sh caches the Kubernetes binaries: the chart tests (helm lint, helm template) need it and
# no Debian package ships a pinned Helm 3. A second run, also from a fresh clone, builds nothing.
#
#   BAREGATE_CACHE   cache root (default: $XDG_CACHE_HOME/baregate or ~/.cache/baregate)
#   HELM_VERSION     Helm release to build (default below; a v3 tag)
#
# Prints the binary directory on its last line of stdout; progress goes to stderr.
set -euo pipefail

HELM_VERSION="${HELM_VERSION:-v3.22.0}"
CACHE="${BAREGATE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/baregate}"
BIN="$CACHE/helm/$HELM_VERSION/bin"
log() { printf '[build-helm %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

if [[ -x "$BIN/helm" ]]; then
  log "cached: $BIN"
  echo "$BIN"
  exit 0
fi

command -v go >/dev/null || { log "go is not installed: it is needed to build helm"; exit 1; }
export GOFLAGS="-mod=mod"
export GOTOOLCHAIN="${GOTOOLCHAIN:-local}"

# `go install pkg@version` builds outside any module, so it works from any directory; run it from the
# cache so nothing in the caller's directory (the checkout) is read or written.
mkdir -p "$CACHE/helm/$HELM_VERSION"
rm -rf "$BIN.partial"
mkdir -p "$BIN.partial"
log "building helm $HELM_VERSION (cold: ~6 minutes on 2 cores; cached by Go after that)"
# Without the -X, `helm version` would say only the minor release ("v3.22").
(cd "$CACHE/helm/$HELM_VERSION" && GOBIN="$BIN.partial" go install \
  -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION" \
  "helm.sh/helm/v3/cmd/helm@$HELM_VERSION") >&2
[[ -x "$BIN.partial/helm" ]] || { log "go install finished but no helm binary in $BIN.partial"; exit 1; }

rm -rf "$BIN"
mv "$BIN.partial" "$BIN"
log "helm ready in $BIN ($("$BIN/helm" version --short 2>/dev/null || echo '?'))"
echo "$BIN"
