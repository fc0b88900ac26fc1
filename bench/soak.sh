#!/usr/bin/env bash
# Churn soak (root; a benchmark, not a test, not in CI): kproxy following the test API server in
# a network namespace of its own, N Services x 10 endpoints, with RATE endpoint changes a second
# for SECONDS (the server's /churn: an endpoint's ready condition flipped, round robin). Every
# 10 s it samples the daemon's RSS and open descriptors; at the end it prints them over time,
# the sync times per 5 minutes (from the daemon's own "sync done" lines: count, p50, p99, max),
# and whether RSS and descriptors were flat (the last sample within 10% / equal to the one at
# 5 minutes, after warm-up).
#   bench/soak.sh BUILD_DIR [--seconds 1800] [--services 1000] [--rate 50] [--mode iptables|nftables]
set -euo pipefail
here=$(dirname "$(readlink -f "$0")")
build=$(readlink -f "${1:?usage: $0 BUILD_DIR [--seconds S] [--services N] [--rate R] [--mode M]}")
shift
seconds=1800
services=1000
rate=50
mode=iptables
while [ $# -gt 0 ]; do
  case $1 in
    --seconds) seconds=$2; shift 2 ;;
    --services) services=$2; shift 2 ;;
    --rate) rate=$2; shift 2 ;;
    --mode) mode=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
[ "$(id -u)" = 0 ] || { echo "soak: needs root (network namespaces)" >&2; exit 2; }

TOPO_PREFIX="kproxy-soak-$$"
. "$here/../tests/integration/topology.sh"
. "$here/../tests/integration/apiserver.sh"
work=$(mktemp -d)
trap 'topo_cleanup; rm -rf "$work"' EXIT
trap 'exit 130' INT TERM

python3 - "$services" >"$work/cluster.json" <<'PY'
import json, sys
n = int(sys.argv[1])
items = []
for i in range(n):
    name = "svc-%d" % i
    ip = "10.96.%d.%d" % ((i + 1) // 256, (i + 1) % 256)
    items.append({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": "soak"},
                  "spec": {"clusterIP": ip, "ports": [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": 8080}]}})
    eps = [{"addresses": ["10.128.%d.%d" % ((i * 10 + j) // 256, (i * 10 + j) % 256)],
            "conditions": {"ready": True, "serving": True, "terminating": False}, "nodeName": "node%d" % (j % 5)}
           for j in range(10)]
    items.append({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                  "metadata": {"name": name + "-x7k2p", "namespace": "soak", "labels": {"kubernetes.io/service-name": name}},
                  "addressType": "IPv4", "endpoints": eps, "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]})
print(json.dumps({"kind": "List", "items": items}))
PY

topo_add_ns node
api_certs "$work"
API_PERSIST=0
api_start "$work"
api_ctl POST /apply "$work/cluster.json" >/dev/null
api_kubeconfig "$work" "$work/kubeconfig"
log="$work/kproxy.log"
case $mode in
  nftables) flags=(--proxy-mode nftables) ;;
  iptables) flags=(--proxy-mode iptables --iptables-backend nft) ;;
  *) echo "unknown mode $mode" >&2; exit 2 ;;
esac
ip netns exec "$(topo_ns node)" "$build/kproxy" --kubeconfig "$work/kubeconfig" "${flags[@]}" \
  --hostname-override node1 --cluster-cidr 10.244.0.0/16 >>"$log" 2>&1 &
pid=$!
TOPO_PIDS+=("$pid")
deadline=$((SECONDS + 300))
until grep -q 'full sync (IPv4) done' "$log"; do
  [ $SECONDS -lt $deadline ] || { echo "kproxy never synced: $(tail -3 "$log")" >&2; exit 1; }
  sleep 0.5
done

api_ctl POST "/churn?rate=$rate&seconds=$seconds" >/dev/null
start=$SECONDS
: >"$work/samples"
while [ $((SECONDS - start)) -lt "$seconds" ]; do
  kill -0 "$pid" 2>/dev/null || { echo "kproxy died: $(tail -5 "$log")" >&2; exit 1; }
  rss=$(awk '/^VmRSS/ { print $2 }' "/proc/$pid/status")
  fds=$(ls "/proc/$pid/fd" | wc -l)
  echo "$((SECONDS - start)) $rss $fds" >>"$work/samples"
  printf '\rsoak: %4ds of %ds, RSS %d MB, %d fds' "$((SECONDS - start))" "$seconds" "$((rss / 1024))" "$fds" >&2
  sleep 10
done
printf '\r\033[K' >&2
churned=$(api_ctl GET /state | python3 -c 'import json, sys; print(json.load(sys.stdin)["churned"])')

echo "kproxy soak: $mode mode, $services Services x 10 endpoints, $rate endpoint changes/s for ${seconds}s ($churned changes made)"
echo
echo "time    RSS MB   fds"
awk '$1 % 300 < 10 || NR == 1 { printf "%5ds  %6.1f  %4d\n", $1, $2 / 1024, $3 } END { printf "%5ds  %6.1f  %4d  (last)\n", $1, $2 / 1024, $3 }' "$work/samples"
echo
# Sync durations by 5-minute window of the soak, from "... sync (IPv4) done: ..., 12.3ms (...)".
python3 - "$log" "$seconds" <<'PY'
import re, sys, datetime
log, seconds = sys.argv[1], int(sys.argv[2])
rx = re.compile(r"^I(\d\d)(\d\d) (\d\d):(\d\d):(\d\d\.\d+)\s+\d+\] (full|partial) sync \(IPv4\) done: .*?, ([0-9.]+)(ms|s) \(")
rows = []
for line in open(log, errors="replace"):
    m = rx.match(line)
    if not m:
        continue
    mo, d, h, mi, s, kind, v, unit = m.groups()
    t = int(h) * 3600 + int(mi) * 60 + float(s)
    rows.append((t, kind, float(v) * (1000 if unit == "s" else 1)))
if not rows:
    print("no sync lines in the log"); sys.exit(0)
end = rows[-1][0]
first = end - seconds
def pct(v, p):
    v = sorted(v); return v[min(len(v) - 1, max(0, int(p / 100 * len(v) + 0.999999) - 1))]
print("window        syncs (full)   p50 ms   p99 ms   max ms")
w = 0
while first + w * 300 < end:
    lo, hi = first + w * 300, first + (w + 1) * 300
    sel = [r for r in rows if lo <= r[0] < hi]
    if sel:
        ms = [r[2] for r in sel]
        print("%3d-%3d min  %5d (%3d)  %7.1f  %7.1f  %7.1f" % (w * 5, w * 5 + 5, len(sel), sum(r[1] == "full" for r in sel),
                                                           pct(ms, 50), pct(ms, 99), max(ms)))
    w += 1
PY
echo
awk -v s="$seconds" 'NR == 1 { first = $0 } $1 >= 300 && !w { w = 1; rss5 = $2; fds5 = $3 } { last_rss = $2; last_fds = $3 }
  END {
    if (!w) { rss5 = last_rss; fds5 = last_fds }
    flat = last_rss <= rss5 * 1.10 && last_fds == fds5
    printf "at 5 min: RSS %.1f MB, %d fds; at the end: RSS %.1f MB, %d fds: %s\n", rss5 / 1024, fds5, last_rss / 1024, last_fds,
      flat ? "flat" : "NOT flat"
    exit flat ? 0 : 1
  }' "$work/samples"
