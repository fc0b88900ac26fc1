#!/usr/bin/env bash
# `kproxy bench` of IPVS mode over 1,000 and 10,000 Services in the guest (make vm-bench; not a
# test). Emulated: compare the ClusterIP/pod ratio and sync times between modes, not raw rates.
set -euo pipefail
build=${1:?usage: $0 BUILD_DIR}
"$build/kproxy" bench --services 1000,10000 --modes ipvs --csv /tmp/kproxy-bench-ipvs.csv
cat /tmp/kproxy-bench-ipvs.csv
