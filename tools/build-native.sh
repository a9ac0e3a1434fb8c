#!/usr/bin/env bash
# Builds the native addon (src/native: AF_PACKET / raw ICMPv6 sockets, TCP-MD5) with the project's own node-gyp
# into src/native/build/Release/baregate_native.node. Skips the build when that file is newer than its sources.
#   tools/build-native.sh [--force]
set -euo pipefail
cd "$(dirname "$0")/.."
dir=src/native
out=$dir/build/Release/baregate_native.node
sources=("$dir/baregate_native.c" "$dir/binding.gyp")

if [[ "${1:-}" != --force && -f "$out" ]]; then
  stale=
  for s in "${sources[@]}"; do [[ "$s" -nt "$out" ]] && stale="$s"; done
  if [[ -z "$stale" ]]; then echo "native addon is up to date: $out"; exit 0; fi
  echo "native addon is older than $stale: rebuilding"
fi

missing=()
for tool in cc g++ make python3; do command -v "$tool" >/dev/null 2>&1 || missing+=("$tool"); done
if [[ ${#missing[@]} -gt 0 ]]; then
  echo "build-native: cannot build the native addon, missing: ${missing[*]}" >&2
  echo "build-native: on Debian: bash tools/setup-debian.sh build-essential python3" >&2
  exit 1
fi
if [[ ! -x node_modules/.bin/node-gyp ]]; then
  echo "build-native: node_modules/.bin/node-gyp is missing: run npm ci first" >&2
  exit 1
fi

# Compile against the headers of the node that runs the project (Debian's nodejs ships them under
# /usr/include/node): node-gyp would otherwise try to download headers, which fails offline.
nodedir="$(node -p 'require("node:path").resolve(process.execPath, "../..")')"
gyp_args=(rebuild --directory "$dir" --loglevel=warn)
if [[ -f "$nodedir/include/node/node_api.h" ]]; then
  gyp_args+=("--nodedir=$nodedir")
else
  echo "build-native: no Node headers under $nodedir/include/node; node-gyp will look for them itself" >&2
fi

echo "building native addon with node-gyp ($(node --version), headers from $nodedir/include/node)"
start=$SECONDS
if ! npx --no-install node-gyp "${gyp_args[@]}"; then
  echo "build-native: node-gyp failed (see above)" >&2
  exit 1
fi
echo "built $out in $((SECONDS - start))s"
