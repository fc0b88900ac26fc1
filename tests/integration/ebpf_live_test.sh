#!/usr/bin/env bash
# kproxy in ebpf mode against the real kernel, with real connections between namespaces: the
# scenarios every mode runs (live_lib.sh) with the clients in a cgroup of the test's own, then
# eBPF-specific ones: the maps' view, no conntrack entry and no rule for a Service address,
# getpeername() and unconnected UDP replies showing the Service address, processes outside the
# cgroup untouched, a restart taking over the pinned links, mode switches both ways, cleanup.
# Usage: ebpf_live_test.sh BUILD_DIR. IP plan and Services: topology.sh and live_lib.sh.
#
# Safety: the socket programs attach only to a child cgroup this test creates under its own
# cgroup2 mount and that holds only its client processes (each in a test namespace); the pins
# live on a bpffs this test mounts. Both are removed at exit, with every program and link.
set -euo pipefail
here=$(dirname "$(readlink -f "$0")")
build=${1:?usage: $0 BUILD_DIR}
if [ "$(id -u)" -ne 0 ]; then
  echo "SKIP: needs root for network namespaces, cgroups and BPF"
  exit 77
fi
TOPO_PREFIX="kproxy-test-ebpflive-$$"
. "$here/topology.sh"
work=$(mktemp -d)
bpffs="$work/bpffs"
cgroot="$work/cg2"
cg="$cgroot/kproxy-test-ebpf-$$"
teardown() {
  topo_cleanup
  # The links first (they hold the programs), then the pins and the mounts.
  [ -d "$bpffs/kproxy" ] && "$build/kproxy" cleanup --ebpf-bpffs-path "$bpffs" >/dev/null 2>&1 || true
  mountpoint -q "$bpffs" && umount "$bpffs"
  [ -d "$cg" ] && rmdir "$cg" 2>/dev/null
  mountpoint -q "$cgroot" && umount "$cgroot"
  rm -rf "$work"
}
trap teardown EXIT
trap 'exit 130' INT TERM
mkdir -p "$bpffs" "$cgroot"
mount -t bpf bpf "$bpffs"
mount -t cgroup2 none "$cgroot"
mkdir "$cg"

LIVE_TAG=ebpf
log="$work/kproxy.log"
# Every client runs in the test's cgroup: the socket programs see only its processes.
client_exec() {
  local ns=$1
  shift
  bash -c 'echo $$ >"$1/cgroup.procs" && shift && exec "$@"' _ "$cg" ip netns exec "$(topo_ns "$ns")" "$@"
}
. "$here/live_lib.sh"
maps() { "$build/kproxy" ebpf-maps "$bpffs" 2>/dev/null || true; }
wait_rules() { topo_wait_output "$1" "$2" maps; }
in_node() { ip netns exec "$(topo_ns node)" "$@"; }
dns_moved_wait() { wait_rules 'service 10.96.0.10:53/udp count 1' 5 && wait_rules 'slot 0 10.244.2.2:5353' 5; }

topo_up "$build/kproxy-testserver"
live_manifests
start() {
  topo_start_kproxy "$build/kproxy" "$work/manifests" "$log" --proxy-mode ebpf --ebpf-bpffs-path "$bpffs" \
    --ebpf-cgroup-path "$cg" --iptables-min-sync-period 50ms "$@"
}
# Conntrack in the node namespace tracks every forwarded flow (as a node's own rules would make
# it), so "no entry for the Service address" means something.
in_node iptables-nft -A FORWARD -m conntrack --ctstate NEW,ESTABLISHED -j ACCEPT
start
wait_rules 'service 10.96.0.83:80/tcp count 1' 15 || { cat "$log"; bad "kproxy never wrote its maps"; live_finish; exit 1; }

m=$(maps)
if grep -q 'service 10.96.0.80:80/tcp count 3' <<<"$m" && grep -q 'service 10.96.0.82:80/tcp count 0 (refused)' <<<"$m" &&
   grep -q 'service 10.96.0.81:80/tcp count 3 affinity 10800s' <<<"$m" && grep -q 'service 10.200.0.1:30080/tcp count 3' <<<"$m" &&
   grep -q 'service 10.96.0.10:53/udp count 1' <<<"$m" && ! grep -q 'fd00' <<<"$m"; then
  ok "maps: web 3 slots, empty refused, sticky with its timeout, web's NodePort on the node IP, dns over UDP"
else bad "unexpected maps: $(head -c 800 <<<"$m")"; fi
out=$(http_get 127.0.0.1 10249 /proxyMode)
grep -q 'ebpf$' <<<"$out" && ok "/proxyMode says ebpf" || bad "/proxyMode: $out"
metrics=$(http_get 127.0.0.1 10249 /metrics)
if grep -q '^kubeproxy_sync_proxy_rules_ebpf_sync_failures_total{ip_family="IPv4"} 0' <<<"$metrics" &&
   grep -q '^kubeproxy_sync_full_proxy_rules_duration_seconds_count{ip_family="IPv4"} [1-9]' <<<"$metrics" &&
   ! grep -q 'iptables_restore_failures' <<<"$metrics"; then
  ok "/metrics: ebpf mode's failure counter at 0, full syncs observed, no iptables counters"
else bad "/metrics: $(grep -E 'failures|full_proxy_rules_duration_seconds_count' <<<"$metrics" | tr '\n' ' ')"; fi
if [ -z "$( { in_node iptables-nft-save -t nat; in_node iptables-legacy-save -t nat; } 2>/dev/null | grep 'KUBE-' )" ] &&
   ! in_node nft list tables 2>/dev/null | grep -q kube-proxy; then
  ok "no iptables rule and no nftables table in ebpf mode"
else bad "rules of another mode exist in ebpf mode"; fi

# The Service address never reaches a packet: getpeername() and UDP replies show it all the same.
out=$(from client tcp 10.96.0.80 80 5 --peer)
[ "$(count peer=10.96.0.80:80 "$out")" = 5 ] && ok "getpeername() shows the ClusterIP" || bad "getpeername: $out"
out=$(from client udp 10.96.0.84 53 30 --sendto)
if [ "$(count pod-1 "$out")" -gt 0 ] && [ "$(count pod-2 "$out")" -gt 0 ] && [ "$(count pod-3 "$out")" -gt 0 ]; then
  ok "unconnected UDP (sendto) reaches all endpoints: $(tr '\n' ' ' <<<"$out")"
else bad "unconnected UDP: $(tr '\n' ' ' <<<"$out")"; fi
out=$(from client udp 10.96.0.84 53 10 --sendto --peer)
[ "$(count from=10.96.0.84:53 "$out")" = 10 ] && ok "unconnected UDP replies come from the Service address" ||
  bad "UDP reply source: $out"
in_node conntrack -F >/dev/null 2>&1 || true
out=$(from client tcp 10.96.0.80 80 20)
ct=$(in_node conntrack -L 2>/dev/null || true)
if [ "$(grep -c 'dport=8080' <<<"$ct")" -gt 0 ] && ! grep -q 'dst=10.96.0.80' <<<"$ct"; then
  ok "conntrack holds the flows to the pods ($(grep -c 'dport=8080' <<<"$ct")) and none for the ClusterIP"
else bad "conntrack after 20 connections: $(grep -c 'dport=8080' <<<"$ct") to pods, $(grep -c 'dst=10.96.0.80' <<<"$ct") to the ClusterIP"; fi
# A process outside the cgroup is not translated (the node has no rule for the address).
out=$(ip netns exec "$(topo_ns client)" "$build/kproxy-testclient" tcp 10.96.0.80 80 1 --timeout-ms 500 2>&1 || true)
grep -q '^pod-' <<<"$out" && bad "a process outside the cgroup reached a pod: $out" ||
  ok "a process outside the cgroup is not load-balanced ($(tr '\n' ' ' <<<"$out"))"

live_common_scenarios

# A UDP socket connected before its endpoint goes away (a resolver's long-lived socket): aborted,
# so the client's next socket reaches the new endpoint (conntrack modes flush the flow instead).
client_exec client "$build/kproxy-testclient" udp-hold 10.96.0.10 53 5 >"$work/udphold" 2>&1 &
holder=$!
sleep 1.5
{ cat "$work/dns.svc"; slice dns 5353 UDP 3; } | write dns.yaml
wait "$holder" || true
out=$(cat "$work/udphold")
if [ "$(count pod-2 "$out")" -gt 0 ] && [ "$(count pod-3 "$out")" -gt 3 ] && [ "$(count new-socket "$out")" -ge 1 ] &&
   grep -q 'terminated 1 UDP socket' "$log"; then
  ok "a connected UDP socket to a removed endpoint was aborted; the next one reached the new endpoint ($(tr '\n' ' ' <<<"$out"))"
else bad "stale connected UDP socket: $(tr '\n' ' ' <<<"$out"); log: $(grep -c terminated "$log") terminations"; fi

# The restart in the common scenarios moved the pinned links onto the new programs.
n=$(grep -c 'took over the pinned link' "$log" || true)
[ "$n" = 4 ] && ok "restart took over the 4 pinned links" || bad "links taken over at restart: $n"
# Changes went in as partial syncs writing only their entries.
grep -q 'partial sync (IPv4) done: [1-9]' "$log" && ok "changes applied as partial syncs" || bad "no partial sync in the log"

# A restart with traffic flowing: connections keep being balanced while kproxy is down and back.
from client tcp 10.96.0.80 80 1 >/dev/null
{ service web 10.96.0.80 '  type: NodePort' ', nodePort: 30080'; slice web 8080 TCP 1 2 3; } | write web.yaml
wait_rules 'service 10.96.0.80:80/tcp count 3' 5 || true
topo_stop_kproxy
out=$(from client tcp 10.96.0.80 80 30)
start
wait_rules 'service 10.96.0.83:80/tcp count 1' 10 || true
out2=$(from client tcp 10.96.0.80 80 30)
if [ "$(( $(count pod-1 "$out") + $(count pod-2 "$out") + $(count pod-3 "$out") ))" = 30 ] &&
   [ "$(( $(count pod-1 "$out2") + $(count pod-2 "$out2") + $(count pod-3 "$out2") ))" = 30 ]; then
  ok "pinned maps serve while kproxy is stopped and after it took them over"
else bad "traffic across a restart: stopped '$(tr '\n' ' ' <<<"$out")' restarted '$(tr '\n' ' ' <<<"$out2")'"; fi

# Mode switches: nftables mode removes our programs and pins; ebpf mode removes nftables' table.
topo_stop_kproxy
topo_start_kproxy "$build/kproxy" "$work/manifests" "$log" --proxy-mode nftables --ebpf-bpffs-path "$bpffs"
until_ok 10 bash -c "ip netns exec $(topo_ns node) nft list table ip kube-proxy >/dev/null 2>&1" || true
sleep 0.5
nft_ok=$( [ ! -e "$bpffs/kproxy" ] && [ "$(count pod-1 "$(from client tcp 10.96.0.80 80 30)")" -gt 0 ] && echo yes || echo no)
topo_stop_kproxy
start
wait_rules 'service 10.96.0.83:80/tcp count 1' 10 || true
if [ "$nft_ok" = yes ] && ! in_node nft list tables 2>/dev/null | grep -q kube-proxy &&
   [ "$(count peer=10.96.0.80:80 "$(from client tcp 10.96.0.80 80 5 --peer)")" = 5 ]; then
  ok "ebpf -> nftables -> ebpf: each mode removed the other's objects and served traffic"
else bad "mode switch: nftables mode ok=$nft_ok, tables now: $(in_node nft list tables 2>&1 | tr '\n' ' ')"; fi

# Cleanup removes our links and pins and nothing foreign.
topo_stop_kproxy
bpftool map create "$bpffs/foreign" type hash key 4 value 4 entries 4 name foreign
in_node "$build/kproxy" --cleanup --ebpf-bpffs-path "$bpffs" >>"$log" 2>&1
"$build/kproxy" cleanup --ebpf-bpffs-path "$bpffs" >>"$log" 2>&1  # idempotent
out=$(from client tcp 10.96.0.80 80 1 --timeout-ms 500)
if [ ! -e "$bpffs/kproxy" ] && [ -e "$bpffs/foreign" ] && ! grep -q '^pod-' <<<"$out" &&
   [ -z "$(bpftool cgroup show "$cg" 2>/dev/null)" ]; then
  ok "cleanup detached the programs and removed our pins, kept the foreign one"
else bad "cleanup: $(ls "$bpffs" "$bpffs/kproxy" 2>&1 | tr '\n' ' '); cgroup: $(bpftool cgroup show "$cg" 2>&1 | tr '\n' ' ')"; fi
rm -f "$bpffs/foreign"

live_finish
