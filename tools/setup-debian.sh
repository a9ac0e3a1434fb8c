#!/usr/bin/env bash
# Installs the named Debian packages if any is missing (apt-get as root); says loudly what is missing otherwise.
set -euo pipefail
missing=()
for p in "$@"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p"); done
if [[ ${#missing[@]} -eq 0 ]]; then echo "Debian packages present: $*"; exit 0; fi
if [[ $(id -u) -ne 0 ]]; then echo "MISSING Debian packages: ${missing[*]} (run as root, or: sudo apt-get install ${missing[*]})" >&2; exit 1; fi
echo "installing Debian packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# Packages like bird2, gobgpd and nginx ship services: they must never start in the root namespace (network safety).
# A policy-rc.d that denies every start is put in place for the install when the machine has none.
policy=/usr/sbin/policy-rc.d
own_policy=0
if [[ ! -e $policy ]]; then printf '#!/bin/sh\nexit 101\n' > "$policy"; chmod +x "$policy"; own_policy=1; fi
trap '[[ $own_policy == 1 ]] && rm -f "$policy"' EXIT
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"
# and in case a service was enabled anyway (systemd machines), stop it (nftables.service would load a ruleset into the root namespace)
for svc in bird gobgpd nftables nginx podman podman.socket podman-restart; do systemctl stop "$svc" 2>/dev/null || true; systemctl disable "$svc" 2>/dev/null || true; done
