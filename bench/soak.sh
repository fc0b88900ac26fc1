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

python3 "$here/../tests/tools/synthetic_cluster.py" "$services" soak >"$work/cluster.json"

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
# Per 5-minute window: RSS and descriptors (median and max of the 10 s samples), and the sync
# times from the daemon's own lines ("... sync (IPv4) done: ..., 12.3ms (...)"). Flat: the last
# window's medians within 10% (RSS) and 2 (fds) of the second window's, after warm-up.
python3 - "$work/samples" "$log" "$seconds" <<'PY'
import re, statistics, sys
samples_file, log, seconds = sys.argv[1], sys.argv[2], int(sys.argv[3])
samples = [tuple(map(int, l.split())) for l in open(samples_file) if l.strip()]
rx = re.compile(r"^I\d{4} (\d\d):(\d\d):(\d\d\.\d+)\s+\d+\] (full|partial) sync \(IPv4\) done: .*?, ([0-9.]+)(ms|s) \(")
syncs = []
for line in open(log, errors="replace"):
    m = rx.match(line)
    if m:
        h, mi, s, kind, v, unit = m.groups()
        syncs.append((int(h) * 3600 + int(mi) * 60 + float(s), kind, float(v) * (1000 if unit == "s" else 1)))
end = syncs[-1][0] if syncs else 0
start = end - seconds
def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, max(0, int(p / 100 * len(v) + 0.999999) - 1))]
print("window      RSS MB med/max   fds med/max   syncs (full)   p50 ms   p99 ms   max ms")
windows = []
for w in range((seconds + 299) // 300):
    ss = [x for x in samples if w * 300 <= x[0] < (w + 1) * 300]
    sy = [x for x in syncs if start + w * 300 <= x[0] < start + (w + 1) * 300]
    if not ss:
        continue
    rss = statistics.median(x[1] for x in ss) / 1024
    fds = statistics.median(x[2] for x in ss)
    windows.append((rss, fds))
    ms = [x[2] for x in sy] or [0]
    print("%3d-%3d min  %6.1f / %5.1f   %4d / %4d   %5d (%3d)  %7.1f  %7.1f  %7.1f" % (
        w * 5, w * 5 + 5, rss, max(x[1] for x in ss) / 1024, fds, max(x[2] for x in ss), len(sy),
        sum(x[1] == "full" for x in sy), pct(ms, 50), pct(ms, 99), max(ms)))
base = windows[1] if len(windows) > 1 else windows[0]
last = windows[-1]
flat = last[0] <= base[0] * 1.10 and last[1] <= base[1] + 2
print("\nmedians, 5-10 min: RSS %.1f MB, %d fds; last 5 min: RSS %.1f MB, %d fds: %s" % (
    base[0], base[1], last[0], last[1], "flat" if flat else "NOT flat"))
sys.exit(0 if flat else 1)
PY
