#!/usr/bin/env bash
# Installs the named Debian packages if any is missing (apt-get as root); says loudly what is missing otherwise.
set -euo pipefail
missing=()
for p in "$@"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p"); done
if [[ ${#missing[@]} -eq 0 ]]; then echo "Debian packages present: $*"; exit 0; fi
if [[ $(id -u) -ne 0 ]]; then echo "MISSING Debian packages: ${missing[*]} (run as root, or: sudo apt-get install ${missing[*]})" >&2; exit 1; fi
echo "installing Debian packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"
