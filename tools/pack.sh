#!/usr/bin/env bash
# The npm package of the baregate command line: `bash tools/pack.sh [OUT_DIR]` writes OUT_DIR/baregate-<version>.tgz
# (default dist/). It holds the compiled dist/ (no tests, no source maps), package.json, the README and
# npm-shrinkwrap.json (the package-lock's exact versions, so `npm install -g` of the tarball installs what the tests
# ran with, and can install offline from an npm cache that `npm ci` filled). Installing it puts `baregate` and
# `kubectl-baregate` on PATH. The native addon is not in it: the commands that announce (speaker, l2-announce,
# bgp-announce) run from the image or a checkout; status, doctor, migrate, pause and resume need only Node.
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(realpath -m "${1:-dist}")
mkdir -p "$out"
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
cp package.json README.md "$stage/"
cp package-lock.json "$stage/"
echo "pack: the production dependencies, exactly as package-lock.json pins them (bundled into the package)" >&2
(cd "$stage" && npm ci --omit=dev --ignore-scripts --offline --no-audit --no-fund --loglevel=error)
echo "pack: compiling src/ into the package" >&2
node_modules/.bin/tsc -p tsconfig.build.json --outDir "$stage/dist" --sourceMap false
chmod +x "$stage/dist/cli/main.js" "$stage/dist/cli/kubectl-plugin.js"
name=$(cd "$stage" && npm pack --silent --pack-destination "$out")
echo "pack: $out/$name" >&2
echo "$out/$name"
