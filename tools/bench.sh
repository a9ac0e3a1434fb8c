#!/usr/bin/env bash
# `npm run bench`: same set-up as the tests, then every benchmark; the JSON result is the last thing on stdout.
set -euo pipefail
cd "$(dirname "$0")/.."
# the same set-up as the tests (npm ci before the native addon, which needs node-gyp); progress goes to stderr
bash tools/setup.sh --k8s
BAREGATE_LOG_LEVEL="${BAREGATE_LOG_LEVEL:-warn}" node --expose-gc --import tsx bench/main.ts
