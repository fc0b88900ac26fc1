#!/usr/bin/env bash
# The IPVS benchmark in the guest (make vm-bench): bench/ipvs_bench.cpp, which makes its own
# network namespaces. Emulated (TCG) times: compare ratios, not absolute numbers.
set -euo pipefail
build=${1:?usage: $0 BUILD_DIR}
"$build/ipvs_bench" --services "${IPVS_BENCH_SERVICES:-1000,10000}" --repeat 5
