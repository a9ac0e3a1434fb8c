#!/usr/bin/env bash
# `npm test`: installs everything the tests need on a fresh Debian machine (Debian packages, npm ci,
# the Kubernetes test binaries), then runs the suites and prints one closing line with the totals.
#   tools/test.sh [all|static|unit|integration|image|netlab|e2e]
set -euo pipefail
cd "$(dirname "$0")/.."
suite="${1:-all}"
step() { printf '\n==> %s\n' "$*"; }

if [[ "$suite" == all || "$suite" == integration || "$suite" == e2e ]]; then bash tools/setup.sh --k8s; else bash tools/setup.sh; fi

results="$(mktemp -d)"
trap 'rm -rf "$results"' EXIT
status=0

# The spec reporter's summary lines (ℹ pass N) are read back from a copy of the output: a TAP file would be
# cut short by --test-force-exit, which we need so that a handle leaked by a failing test cannot hang CI.
run_node_tests() { # name, files...
  local name="$1"; shift
  if [[ $# -eq 0 ]]; then echo "no test files for $name: the suite matched nothing"; status=1; return; fi
  set +e
  node --import tsx --test --test-force-exit --test-timeout=300000 --test-reporter=spec "$@" 2>&1 | tee "$results/$name.out"
  local rc=${PIPESTATUS[0]}
  set -e
  [[ $rc -eq 0 ]] || status=1
}

if [[ "$suite" == all || "$suite" == static ]]; then
  step "static: generated files, typecheck, lint"
  npx tsx tools/gen.ts --check || status=1
  npx tsc -p tsconfig.json --noEmit || status=1
  npx eslint . || status=1
fi

if [[ "$suite" == all || "$suite" == unit ]]; then
  step "unit tests (src/**/*.test.ts)"
  mapfile -t files < <(find src -name '*.test.ts' | sort)
  run_node_tests unit "${files[@]}"
fi

if [[ "$suite" == all || "$suite" == integration ]]; then
  step "integration tests (real kube-apiserver + etcd)"
  mapfile -t files < <(find test/integration -name '*.test.ts' | sort)
  if [[ ${#files[@]} -eq 0 ]]; then echo "no integration test files found"; status=1
  else
    set +e
    npx tsx test/harness/run-integration.ts "${files[@]}" 2>&1 | tee "$results/integration.out"
    rc=${PIPESTATUS[0]}
    set -e
    [[ $rc -eq 0 ]] || status=1
  fi
fi

if [[ "$suite" == all || "$suite" == image ]]; then
  step "image tests (the container image: build it, run baregate inside it with podman)"
  mapfile -t files < <(find test/image -name '*.test.ts' | sort)
  run_node_tests image "${files[@]}"
fi

if [[ "$suite" == all || "$suite" == netlab ]]; then
  step "netlab tests (network namespaces; root only)"
  if [[ $(id -u) -ne 0 ]]; then echo "NETLAB SKIPPED: needs root (network namespaces, packet sockets); every netlab test reports itself as skipped"; fi
  mapfile -t files < <(find test/netlab -name '*.test.ts' | sort)
  before_ns=$(ip netns list 2>/dev/null | awk '{print $1}' | sort)
  run_node_tests netlab "${files[@]}"
  left=$(comm -13 <(echo "$before_ns") <(ip netns list 2>/dev/null | awk '{print $1}' | sort) | grep '^bg' || true)
  if [[ -n "$left" ]]; then echo "netlab left network namespaces behind:"; echo "$left"; status=1; fi
fi

if [[ "$suite" == all || "$suite" == e2e ]]; then
  step "e2e tests (the whole lab: control plane, kube-proxy, speakers, pods, BIRD; root only)"
  if [[ $(id -u) -ne 0 ]]; then echo "E2E SKIPPED: needs root (network namespaces, packet sockets); every e2e test reports itself as skipped"; fi
  mapfile -t files < <(find test/e2e -name '*.test.ts' | sort)
  before_ns=$(ip netns list 2>/dev/null | awk '{print $1}' | sort)
  # one lab per file, and a lab is heavy: the files run one after the other
  if [[ ${#files[@]} -eq 0 ]]; then run_node_tests e2e; else run_node_tests e2e --test-concurrency=1 "${files[@]}"; fi
  left=$(comm -13 <(echo "$before_ns") <(ip netns list 2>/dev/null | awk '{print $1}' | sort) | grep '^bg' || true)
  if [[ -n "$left" ]]; then echo "e2e left network namespaces behind:"; echo "$left"; status=1; fi
fi

pass=0; fail=0; skip=0
for f in "$results"/*.out; do
  [[ -f "$f" ]] || continue
  p=$(sed -n 's/^ℹ pass \([0-9]*\)$/\1/p' "$f" | tail -n1); pass=$((pass + ${p:-0}))
  x=$(sed -n 's/^ℹ fail \([0-9]*\)$/\1/p' "$f" | tail -n1); fail=$((fail + ${x:-0}))
  s=$(sed -n 's/^ℹ skipped \([0-9]*\)$/\1/p' "$f" | tail -n1); skip=$((skip + ${s:-0}))
done
if [[ "$suite" != static && $pass -eq 0 && $status -eq 0 ]]; then echo "no test reported a pass: treating the run as failed"; status=1; fi
if [[ $status -ne 0 && $fail -eq 0 ]]; then fail=1; fi
echo
echo "baregate: $pass passed, $fail failed, $skip skipped"
exit $status
