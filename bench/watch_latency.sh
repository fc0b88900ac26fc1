#!/usr/bin/env bash
# Network programming latency (root; a benchmark, not a test): the test API server and kproxy in
# a network namespace of their own, N services x 10 endpoints, then CHANGES one-endpoint changes
# made one at a time. Latency is kube-proxy's definition, from the EndpointSlice's
# last-change-trigger-time (stamped by the server when the change is made) to the end of the
# sync that put it in the kernel (kproxy -v=4 logs each; also kubeproxy_network_programming_
# duration_seconds). The floor is the kernel step of that same sync: the iptables-restore process
# (backends nft, legacy: iptables mode) or the netlink transaction (nftables: nftables mode).
#   bench/watch_latency.sh BUILD_DIR [--services 1000] [--changes 200] [--backends nft,legacy,nftables]
set -euo pipefail
here=$(dirname "$(readlink -f "$0")")
build=$(readlink -f "${1:?usage: $0 BUILD_DIR [--services N] [--changes N] [--backends nft,legacy,nftables]}")
shift
services=1000
changes=200
backends=nft,legacy
while [ $# -gt 0 ]; do
  case $1 in
    --services) services=$2; shift 2 ;;
    --changes) changes=$2; shift 2 ;;
    --backends) backends=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
[ "$(id -u)" = 0 ] || { echo "watch_latency: needs root (network namespaces)" >&2; exit 2; }

TOPO_PREFIX="kproxy-bench-latency-$$"
. "$here/../tests/integration/topology.sh"
. "$here/../tests/integration/apiserver.sh"
work=$(mktemp -d)
trap 'topo_cleanup; rm -rf "$work"' EXIT
trap 'exit 130' INT TERM

# SERVICES x 10 endpoints in full API form, as one List for /apply.
python3 "$here/../tests/tools/synthetic_cluster.py" "$services" bench >"$work/cluster.json"

# change K: slice of service K mod N with its first endpoint moved to a fresh address.
change() {
  local k=$1 i=$(($1 % services))
  python3 - "$i" "$k" <<'PY'
import json, sys
i, k = int(sys.argv[1]), int(sys.argv[2])
name = "svc-%d" % i
eps = [{"addresses": ["10.128.%d.%d" % ((i * 10 + j) // 256, (i * 10 + j) % 256)],
        "conditions": {"ready": True, "serving": True, "terminating": False}, "nodeName": "node%d" % (j % 5)}
       for j in range(10)]
eps[0]["addresses"] = ["10.160.%d.%d" % (k // 256 % 256, k % 256)]
print(json.dumps({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                  "metadata": {"name": name + "-x7k2p", "namespace": "bench", "labels": {"kubernetes.io/service-name": name}},
                  "addressType": "IPv4", "endpoints": eps, "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]}))
PY
}

# pct P FILE: the P-th percentile (nearest rank) of the numbers in FILE.
pct() { sort -n "$2" | awk -v p="$1" '{ v[NR] = $1 } END { i = int(p / 100 * NR + 0.999999); if (i < 1) i = 1; print v[i] }'; }

printf '%-8s %6s %7s | %9s %9s %9s | %9s %9s | %9s %9s | %9s %9s\n' backend svcs changes "lat p50" "lat p99" \
  "lat max" "sync p50" "sync p99" "floor p50" "floor p99" "over p50" "over p99"
for backend in ${backends//,/ }; do
  topo_add_ns node
  api_certs "$work"
  API_PORT=0
  API_PERSIST=0  # writing the state file holds Python's GIL and would delay the watch stream
  api_start "$work"
  api_ctl POST /apply "$work/cluster.json" >/dev/null
  api_kubeconfig "$work" "$work/kubeconfig"
  log="$work/kproxy-$backend.log"
  : >"$log"
  case $backend in
    nftables) mode=(--proxy-mode nftables) ;;
    nft|legacy) mode=(--proxy-mode iptables --iptables-backend "$backend") ;;
    *) echo "unknown backend $backend (nft, legacy, nftables)" >&2; exit 2 ;;
  esac
  ip netns exec "$(topo_ns node)" "$build/kproxy" --kubeconfig "$work/kubeconfig" "${mode[@]}" \
    --hostname-override node1 --cluster-cidr 10.244.0.0/16 --iptables-min-sync-period 0 -v 4 \
    --healthz-bind-address "" --metrics-bind-address "" >>"$log" 2>&1 &
  TOPO_PIDS+=($!)
  deadline=$((SECONDS + 300))
  until grep -q 'full sync (IPv4) done' "$log"; do
    [ $SECONDS -lt $deadline ] || { echo "kproxy never synced: $(tail -3 "$log")" >&2; exit 1; }
    sleep 0.2
  done
  sleep 1
  base=$(grep -c 'network programming latency' "$log" || true)
  start_line=$(wc -l <"$log")
  for k in $(seq 1 "$changes"); do
    change "$k" >"$work/change.json"
    api_ctl POST "/apply?stamp=1" "$work/change.json" >/dev/null
    want=$((base + k))
    deadline=$((SECONDS + 20))
    while [ "$(grep -c 'network programming latency' "$log" || true)" -lt "$want" ]; do
      [ $SECONDS -lt $deadline ] || { echo "change $k never programmed: $(tail -3 "$log")" >&2; exit 1; }
      sleep 0.005
    done
    printf '\r%s: %d/%d changes' "$backend" "$k" "$changes" >&2
  done
  printf '\r\033[K' >&2
  tail -n +"$((start_line + 1))" "$log" | sed -n 's/.*network programming latency \([0-9.]*\)ms.*/\1/p' >"$work/lat"
  tail -n +"$((start_line + 1))" "$log" | sed -n 's/.*partial sync (IPv4) done.*\(restore\|netlink\) \([0-9.]*\)ms).*/\2/p' >"$work/floor"
  paste "$work/lat" "$work/floor" | awk 'NF == 2 { print $1 - $2 }' >"$work/over"
  # kproxy's own sync: desired state + render + kernel step (the rest is the watch's delivery)
  tail -n +"$((start_line + 1))" "$log" |
    sed -n 's/.*partial sync (IPv4) done.*(s), \([0-9.]*\)ms (desired state \([0-9.]*\)ms.*/\1 \2/p' |
    awk '{ print $1 + $2 }' >"$work/sync"
  printf '%-8s %6d %7d | %7.1fms %7.1fms %7.1fms | %7.1fms %7.1fms | %7.1fms %7.1fms | %7.1fms %7.1fms\n' \
    "$backend" "$services" "$(wc -l <"$work/lat")" "$(pct 50 "$work/lat")" "$(pct 99 "$work/lat")" \
    "$(sort -n "$work/lat" | tail -1)" "$(pct 50 "$work/sync")" "$(pct 99 "$work/sync")" \
    "$(pct 50 "$work/floor")" "$(pct 99 "$work/floor")" "$(pct 50 "$work/over")" "$(pct 99 "$work/over")"
  topo_cleanup
  rm -f "$work"/api.*
done
echo "(latency: trigger time -> sync done; sync: kproxy's sync alone (desired state, render, kernel);"
echo " floor: that sync's iptables-restore process or netlink transaction; over: latency - floor)"
