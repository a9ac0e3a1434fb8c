#!/usr/bin/env bash
# Regenerates the vendored MetalLB CRDs that `baregate migrate`'s tests read (not run by CI: the files are checked in).
#   test/fixtures/metallb/crds/metallb.io_*.yaml  config/crd/bases/metallb.io_*.yaml of MetalLB's current release
#                                                (METALLB_VERSION): every kind and version its users have today, and
#                                                metallb.io_addresspools.yaml: the AddressPool CRD (v1alpha1, v1beta1) of
#                                                the last release that shipped it (METALLB_ADDRESSPOOL_VERSION; removed in v0.14)
# The unit test src/migrate/fields.test.ts walks every spec leaf of these schemas; the integration test installs them.
# Sources come from the Go module proxy (`go mod download`) into a temp GOPATH. The sample configurations beside
# them (test/fixtures/metallb/*.yaml) are written by hand, not generated.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"

METALLB_VERSION="${METALLB_VERSION:-v0.16.2}"
METALLB_ADDRESSPOOL_VERSION="${METALLB_ADDRESSPOOL_VERSION:-v0.13.5}"

# shellcheck source=tools/lib/gomod.sh
. tools/lib/gomod.sh

log "downloading go.universe.tf/metallb@$METALLB_VERSION and @$METALLB_ADDRESSPOOL_VERSION"
cur="$(moddir go.universe.tf/metallb "$METALLB_VERSION")"
old="$(moddir go.universe.tf/metallb "$METALLB_ADDRESSPOOL_VERSION")"

fx="$root/test/fixtures/metallb/crds"
mkdir -p "$fx"
rm -f "$fx"/*.yaml
cp "$cur"/config/crd/bases/metallb.io_*.yaml "$fx/"
if [ -e "$fx/metallb.io_addresspools.yaml" ]; then echo "MetalLB $METALLB_VERSION ships AddressPool again: check the fixtures" >&2; exit 1; fi
cp "$old/config/crd/bases/metallb.io_addresspools.yaml" "$fx/"
chmod u+w "$fx"/*.yaml
cat > "$fx/README.md" <<README
MetalLB's CustomResourceDefinitions, copied unchanged: \`metallb.io_*.yaml\` are \`config/crd/bases/metallb.io_*.yaml\` of Go
module go.universe.tf/metallb@$METALLB_VERSION, except \`metallb.io_addresspools.yaml\`, which is that file of
go.universe.tf/metallb@$METALLB_ADDRESSPOOL_VERSION (the AddressPool kind was removed in v0.14).
License: Apache-2.0 (the MetalLB Authors). Regenerate: \`bash tools/vendor-metallb-fixtures.sh\` (do not edit by hand).
README
log "copied $(ls "$fx"/*.yaml | wc -l) CRDs to $fx"
