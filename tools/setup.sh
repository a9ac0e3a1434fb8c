#!/usr/bin/env bash
# Installs everything the tests, the benchmark and the lab need on a fresh Debian machine, in order, with
# visible progress: Debian packages, npm dependencies, the native addon and (with --k8s) the Kubernetes
# binaries. Every step does nothing when it is already done. Shared by `npm test`, `npm run bench`, `npm run lab`.
#   tools/setup.sh [--k8s]
set -euo pipefail
cd "$(dirname "$0")/.."
step() { printf '\n==> %s\n' "$*" >&2; }

step "setup: Debian packages"
# openssl: test cluster certs; build-essential + python3: native addon (node-gyp);
# iproute2, arping, ndisc6, iputils-ping: netlab clients; bird2, gobgpd: BGP peers for interop tests;
# nftables: netlab partitions the speakers' heartbeat path inside node namespaces (and the image copies nft);
# podman + runc: the image test loads the built OCI archive and runs baregate in it (runc: the runtime it is set to);
# nginx: the lab's stand-in for an ingress gateway's data plane (run only inside lab pod namespaces, never as a service)
bash tools/setup-debian.sh openssl build-essential python3 iproute2 arping ndisc6 iputils-ping bird2 gobgpd nftables podman runc nginx >&2

step "setup: npm dependencies"
# before the native addon: it is built with the project's own node-gyp
if [[ ! -d node_modules || package-lock.json -nt node_modules/.package-lock.json ]]; then
  npm ci --no-audit --no-fund >&2
else
  echo "node_modules is up to date" >&2
fi

step "setup: native addon (src/native)"
bash tools/build-native.sh >&2

if [[ "${1:-}" == --k8s ]]; then
  step "setup: Kubernetes binaries (kube-apiserver, kubectl, etcd, ...)"
  bash tools/build-k8s.sh >/dev/null
  step "setup: helm (the chart's lint and template tests)"
  bash tools/build-helm.sh >/dev/null
fi
