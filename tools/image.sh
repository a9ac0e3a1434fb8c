#!/usr/bin/env bash
# `npm run image`: builds the container image of controller and speaker (one image) as an OCI archive,
# dist/image/baregate-<version>.oci.tar, without a container engine: see tools/image/build.ts for what goes in.
# Prints the image reference, manifest digest and sizes on stdout, the last line as JSON; the steps on stderr.
#   tools/image.sh [--out FILE] [--no-cache]
# Load it:  podman load -i dist/image/baregate-<version>.oci.tar   |   ctr -n k8s.io images import <file>
#           skopeo copy oci-archive:<file> docker://<registry>/baregate:<version>
set -euo pipefail
cd "$(dirname "$0")/.."
for tool in tar ldd nft; do
  command -v "$tool" >/dev/null 2>&1 || [[ -x /usr/sbin/$tool ]] || {
    echo "image: $tool is missing (on Debian: bash tools/setup.sh installs it)" >&2; exit 1; }
done
[[ -x node_modules/.bin/tsc ]] || { echo "image: node_modules is missing: run bash tools/setup.sh (or npm ci) first" >&2; exit 1; }
exec node --import tsx tools/image/build.ts "$@"
