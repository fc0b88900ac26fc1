#!/usr/bin/env bash
# `kproxy bench` measures IPVS mode where the kernel has it: a tiny sweep in the guest, its CSV
# row checked for sane numbers (the host's root.bench_cli covers the other modes and the SVG).
set -euo pipefail
build=${1:?usage: $0 BUILD_DIR}
csv=$(mktemp)
"$build/kproxy" bench --services 10 --endpoints 3 --modes ipvs --duration 0.5 --repeat 1 --changes 2 --csv "$csv"
cat "$csv"
awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
  { rows++
    bad = $col["mode"] != "ipvs" || $col["services"] != 10 || !($col["full_sync_seconds"] > 0) ||
          !($col["partial_sync_seconds"] > 0) || !($col["kernel_objects"] > 12 * 4) ||
          !($col["clusterip_connections_per_second"] > 10) || $col["clusterip_failures"] != 0 ||
          !($col["pod_connections_per_second"] > 10)
    if (bad) { print "FAIL bench ipvs row: " $0; exit 1 } }
  END { if (rows != 1) { print "FAIL bench: " rows " rows"; exit 1 } print "ok   [vm] kproxy bench: one sane ipvs row" }' "$csv"
