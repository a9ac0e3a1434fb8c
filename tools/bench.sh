#!/usr/bin/env bash
# `npm run bench`: same set-up as the tests, then every benchmark; the JSON result is the last thing on stdout.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup-debian.sh openssl build-essential python3 iproute2 arping bird2 gobgpd >&2
bash tools/build-native.sh >&2
[[ -d node_modules ]] || npm ci --no-audit --no-fund >&2
bash tools/build-k8s.sh >/dev/null
BAREGATE_LOG_LEVEL="${BAREGATE_LOG_LEVEL:-warn}" node --expose-gc --import tsx bench/main.ts
