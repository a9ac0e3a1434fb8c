# Sourced by the scripts that regenerate fixtures from Go modules (tools/vendor-metallb-fixtures.sh,
# tools/render-gateway-fixtures.sh): a throw-away GOPATH in a temp dir removed on exit, so nothing lands in the
# user's module cache, and `moddir MODULE VERSION`, which downloads a module from the Go module proxy and prints
# its directory. Sets: $work (the temp dir), log() (prefixed with the calling script's name).
# shellcheck shell=bash
log() { printf '[%s] %s\n' "$(basename "$0" .sh)" "$*" >&2; }
work="$(mktemp -d)"
trap 'chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"' EXIT
export GOPATH="$work/gopath" GOMODCACHE="$work/gopath/pkg/mod" GOFLAGS=-mod=mod GOTOOLCHAIN=local

# The directory of a downloaded module (go mod download's JSON; its Error field fails the script).
moddir() { go mod download -json "$1@$2" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const j=JSON.parse(s);if(j.Error){console.error(j.Error);process.exit(1)}console.log(j.Dir)})'; }
