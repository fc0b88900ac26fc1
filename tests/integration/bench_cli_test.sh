#!/usr/bin/env bash
# `kproxy bench` end to end with a tiny sweep (10 Services): it measures every mode this
# machine has, writes a CSV whose numbers are sane and an SVG that parses, leaves no namespace,
# directory or process behind (also when interrupted), and refuses bad options.
# Usage: bench_cli_test.sh BUILD_DIR
set -euo pipefail
build=${1:?usage: $0 BUILD_DIR}
if [ "$(id -u)" -ne 0 ]; then
  echo "SKIP: needs root for network namespaces"
  exit 77
fi
work=$(mktemp -d)
bench_pid=
cleanup() {
  [ -z "$bench_pid" ] || kill -9 "$bench_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
passed=0 failed=0
ok() { echo "ok   $*"; passed=$((passed + 1)); }
bad() { echo "FAIL $*"; failed=$((failed + 1)); }
leftovers() { ip netns list | grep -c '^kproxy-bench-' || true; }
root_rules_before=$(iptables-save 2>/dev/null | grep -c KUBE || true)

set +e
"$build/kproxy" bench --services 10 --endpoints 3 --modes iptables,nftables,ipvs,ebpf --duration 0.3 --repeat 1 \
  --changes 2 --csv "$work/b.csv" --svg "$work/b.svg" >"$work/out" 2>"$work/err"
rc=$?
set -e
[ $rc = 0 ] && ok "bench exits 0" || { bad "bench exit $rc: $(tail -5 "$work/err")"; }
cat "$work/out"
if [ -e /proc/net/ip_vs ] || grep -q 'skipping ipvs: this kernel has no IPVS' "$work/err"; then
  ok "ipvs measured or skipped with the reason"
else bad "ipvs neither measured nor explained: $(cat "$work/err")"; fi

# CSV: a header and one row per mode, every number sane.
if python3 - "$work/b.csv" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
modes = [r["mode"] for r in rows]
assert modes == ["iptables-nft", "iptables-legacy", "nftables", "ebpf"], modes
objects = {}
for r in rows:
    f = {k: float(v) for k, v in r.items() if k != "mode"}
    assert f["services"] == 10 and f["endpoints_per_service"] == 3, r
    assert 0 < f["full_sync_seconds"] < 30, r
    assert 0 < f["partial_sync_seconds"] < 30, r
    # 12 Services (the sweep's 10, the measured one, the changing one) have rules
    assert f["kernel_objects"] > 12, r
    assert f["peak_rss_bytes"] > 1 << 20, r
    for side in ("clusterip", "pod"):
        assert f[side + "_connections_per_second"] > 100, (side, r)
        assert 0 < f[side + "_p50_seconds"] <= f[side + "_p99_seconds"] < 1, (side, r)
    assert f["clusterip_failures"] == 0, r
    objects[r["mode"]] = f["kernel_objects"]
assert objects["iptables-nft"] == objects["iptables-legacy"], objects
PY
then ok "CSV: one sane row per mode (iptables-nft, iptables-legacy, nftables, ebpf)"
else bad "CSV: $(cat "$work/b.csv")"; fi

if python3 - "$work/b.svg" <<'PY'
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
assert root.tag == "{http://www.w3.org/2000/svg}svg", root.tag
texts = [t.text for t in root.iter("{http://www.w3.org/2000/svg}text")]
for want in ("iptables-nft", "iptables-legacy", "nftables", "ebpf", "straight to a pod (no proxy)", "connections per second"):
    assert want in texts, (want, texts)
assert len(list(root.iter("{http://www.w3.org/2000/svg}polyline"))) == 13  # 3 per mode, 1 for the pod
PY
then ok "SVG parses, with axes and a legend entry per mode"
else bad "SVG: $(head -c 300 "$work/b.svg")"; fi

grep -q '^ebpf maps at 10 Services: [0-9]* MiB locked' "$work/out" && ok "ebpf row reports its maps' locked memory" ||
  bad "no locked map memory for ebpf: $(cat "$work/out")"
[ -z "$(grep kproxy-bench- /proc/self/mounts)" ] && ok "no bpffs or cgroup2 mount left behind" ||
  bad "mounts left: $(grep kproxy-bench- /proc/self/mounts)"
[ "$(leftovers)" = 0 ] && ok "no network namespace left behind" || bad "namespaces left: $(ip netns list | grep kproxy-bench-)"
[ -z "$(pgrep -f 'kproxy --manifests /tmp/kproxy-bench-' || true)" ] && ok "no kproxy left running" || bad "kproxy still running"
[ "$(iptables-save 2>/dev/null | grep -c KUBE || true)" = "$root_rules_before" ] && ok "root namespace rules untouched" ||
  bad "root namespace KUBE rules changed"

# Interrupted in the middle of a measurement: exits 130 and still cleans up.
"$build/kproxy" bench --services 10 --endpoints 3 --modes nftables --duration 30 --repeat 1 >"$work/out2" 2>"$work/err2" &
bench_pid=$!
deadline=$((SECONDS + 20))
until grep -q 'connections' "$work/err2" 2>/dev/null || [ $SECONDS -ge $deadline ]; do sleep 0.1; done
sleep 0.3
kill -INT "$bench_pid"
set +e
wait "$bench_pid"
rc=$?
set -e
bench_pid=
if [ $rc = 130 ] && [ "$(leftovers)" = 0 ] && [ -z "$(pgrep -f 'kproxy --manifests /tmp/kproxy-bench-' || true)" ]; then
  ok "SIGINT: exit 130, namespaces and kproxy gone"
else bad "SIGINT: exit $rc, namespaces $(leftovers), $(tail -2 "$work/err2")"; fi

# Bad options: exit 2 and say what is wrong.
for args in "--modes bogus" "--services ten" "--duration 0" "--frobnicate"; do
  set +e
  # shellcheck disable=SC2086
  msg=$("$build/kproxy" bench $args 2>&1 >/dev/null)
  rc=$?
  set -e
  [ $rc = 2 ] && grep -q "kproxy bench: " <<<"$msg" && ok "bench $args: usage error" || bad "bench $args: exit $rc: $msg"
done

echo "bench_cli: $passed passed, $failed failed"
[ "$failed" = 0 ]
