#!/usr/bin/env bash
# `npm run lab`: a whole bare-metal Kubernetes cluster in network namespaces on this machine (issue 10).
# Installs what it needs (Debian packages, npm ci, the native addon, the Kubernetes binaries), then runs
# `baregate lab up`, which stays up until Ctrl-C. Arguments are passed on:
#   npm run lab                      # 3 nodes, stays up
#   npm run lab -- --nodes 2 --once  # up, check traffic, tear down (exit code: did traffic flow)
#   npm run lab -- status|failover|down   (talk to a running lab; no setup)
set -euo pipefail
cd "$(dirname "$0")/.."

action=up
case "${1:-}" in up|down|status|failover) action="$1"; shift ;; esac

if [[ "$(uname -s)" != Linux ]]; then
  echo "npm run lab: the lab runs on Linux only (it builds a cluster out of network namespaces); this is $(uname -s)." >&2
  exit 2
fi
if [[ $(id -u) -ne 0 ]]; then
  echo "npm run lab: the lab creates network namespaces: run it as root, e.g. sudo npm run lab" >&2
  exit 2
fi

if [[ "$action" == up ]]; then
  printf '==> lab: setup (Debian packages, npm dependencies, native addon, Kubernetes binaries)\n' >&2
  if ! bash tools/setup.sh; then
    echo "npm run lab: setup failed (see above). It installs Debian packages with apt-get and runs npm ci:" >&2
    echo "  fix what it names, or run the steps by hand: bash tools/setup-debian.sh <packages>; npm ci; bash tools/build-native.sh" >&2
    exit 1
  fi
  printf '\n==> lab: Kubernetes binaries (kube-apiserver, etcd, kube-controller-manager, kube-proxy, kubectl)\n' >&2
  echo "    cached in ~/.cache/baregate after the first run; the FIRST run builds them from the Go module proxy," >&2
  echo "    which takes several minutes on 2 cores (progress below)" >&2
  if ! bash tools/build-k8s.sh >/dev/null; then
    echo "npm run lab: building the Kubernetes binaries failed (see above)." >&2
    echo "  fix: it needs Go (apt-get install golang, or a newer Go from go.dev if Kubernetes asks for one) and access to" >&2
    echo "  the Go module proxy (proxy.golang.org, or GOPROXY); run bash tools/build-k8s.sh again to retry." >&2
    exit 1
  fi
  printf '\n==> lab: up\n' >&2
fi

exec node --import tsx src/cli/main.ts lab "$action" "$@"
