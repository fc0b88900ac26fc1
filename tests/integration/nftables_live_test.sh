#!/usr/bin/env bash
# kproxy in nftables mode against the real kernel, with real connections between namespaces:
# the scenarios every mode runs (live_lib.sh), then nftables-specific ones: the kernel's view
# (`nft list table`), externalTrafficPolicy Local on NodePorts, a refused transaction keeping
# the rules, the table deleted behind our back, switching from iptables mode and back, cleanup.
# Usage: nftables_live_test.sh BUILD_DIR. IP plan and Services: topology.sh and live_lib.sh.
set -euo pipefail
here=$(dirname "$(readlink -f "$0")")
build=${1:?usage: $0 BUILD_DIR}
if [ "$(id -u)" -ne 0 ]; then
  echo "SKIP: needs root for network namespaces"
  exit 77
fi
command -v nft >/dev/null || { echo "SKIP: nft missing (scripts/install-deps.sh installs it)"; exit 77; }
TOPO_PREFIX="kproxy-test-nftlive-$$"
. "$here/topology.sh"
work=$(mktemp -d)
trap 'topo_cleanup; rm -rf "$work"' EXIT
trap 'exit 130' INT TERM

LIVE_TAG=nftables
DNS_MOVED_PATTERN='dnat to 10.244.2.2:5353'
log="$work/kproxy.log"
. "$here/live_lib.sh"
in_node() { ip netns exec "$(topo_ns node)" "$@"; }
table() { in_node nft list table "${1:-ip}" kube-proxy 2>/dev/null || true; }
wait_rules() { topo_wait_output "$1" "$2" table; }

topo_up "$build/kproxy-testserver"
live_manifests
cat >"$work/config.yaml" <<CFG
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: nftables
clusterCIDR: 10.244.0.0/16
nftables:
  syncPeriod: 3s
  minSyncPeriod: 50ms
CFG
start() { topo_start_kproxy "$build/kproxy" "$work/manifests" "$log" --config "$work/config.yaml" "$@"; }
start
wait_rules '10.96.0.83 . tcp . 80' 15 || { cat "$log"; bad "kproxy never programmed its table"; exit 1; }

# The kernel's view: upstream's layout and names, one chain per service port, no chain per endpoint.
t=$(table)
if grep -q 'map service-ips' <<<"$t" && grep -q 'map service-nodeports' <<<"$t" && grep -q 'set cluster-ips' <<<"$t" &&
   grep -q 'chain service-[A-Z2-7]\{8\}-t/web/tcp/http' <<<"$t" && grep -q 'goto dnat-3' <<<"$t" &&
   grep -q 'dnat ip to ip daddr . meta l4proto . th dport . numgen random mod 3 map @cluster-endpoints' <<<"$t" &&
   grep -q '10.96.0.80 . tcp . 80 . 2 : 10.244.[123].2 . 8080' <<<"$t" &&
   grep -q 'chain endpoint-.*t/sticky/tcp/http__10.244.1.2/8080' <<<"$t" && ! grep -q 'chain endpoint-.*t/web/' <<<"$t"; then
  ok "nft list table: upstream's maps and names, web picks among 3 by the endpoint map, per-endpoint chains only for affinity"
else bad "unexpected table: $(head -c 800 <<<"$t")"; fi
grep -q 'fd00:96::85 . tcp . 80' <<<"$(table ip6)" && ok "dual-stack Service programmed in table ip6 kube-proxy too" ||
  bad "no IPv6 table entry for the dual-stack Service"
out=$(http_get 127.0.0.1 10249 /proxyMode)
grep -q 'nftables$' <<<"$out" && ok "/proxyMode says nftables" || bad "/proxyMode: $out"
if [ -z "$( { in_node iptables-nft-save; in_node iptables-legacy-save; } 2>/dev/null | grep 'KUBE-' )" ]; then
  ok "no iptables rules in nftables mode"
else bad "iptables KUBE- rules exist in nftables mode"; fi

live_health_check_node_ports

# externalTrafficPolicy Local: the NodePort of lb answers from its local pods 1-2 only; that of
# lbremote (its only endpoint on node2) is dropped, while its ClusterIP still works.
out=$(from client tcp 10.200.0.1 30086 60)
if [ "$(count pod-3 "$out")" = 0 ] && [ "$(( $(count pod-1 "$out") + $(count pod-2 "$out") ))" = 60 ]; then
  ok "eTP Local NodePort: only local endpoints answer ($(tr '\n' ' ' <<<"$out"))"
else bad "eTP Local NodePort 30086: $(tr '\n' ' ' <<<"$out")"; fi
out=$(from client tcp 10.200.0.1 30087 1 --timeout-ms 700)
[ "$(count timeout "$out")" = 1 ] && ok "eTP Local NodePort without local endpoints: dropped" || bad "30087: $out"
out=$(from client tcp 10.96.0.87 80 5)
[ "$(count pod-3 "$out")" = 5 ] && ok "its ClusterIP (internal policy Cluster) still reaches node2's endpoint" || bad "10.96.0.87: $out"

live_common_scenarios

# The IPv4 and IPv6 tables' commits share one ruleset generation: the changes so far went in as
# partial syncs, none of them taken for another program's write (which forces a full resync).
if grep -q 'partial sync (IPv4) done: [1-9]' "$log" && ! grep -q 'changed by another program' "$log"; then
  ok "changes applied as partial syncs; our IPv6 commits not mistaken for a foreign write"
else bad "partial syncs: $(grep -c 'partial sync (IPv4) done: [1-9]' "$log"), foreign-write resyncs: $(grep -c 'changed by another program' "$log")"; fi

# A refused transaction keeps the rules: a filter base chain squats the name of the chain a new
# Service needs, so the kernel refuses the batch; the other Services keep working, the failure
# is logged and counted, and once the squatter is gone the retry programs the new Service.
name=$(python3 -c 'import base64, hashlib; print(base64.b32encode(hashlib.sha256(b"t/late/tcp/http").digest()).decode()[:8])')
squat="service-$name-t/late/tcp/http"
in_node nft add chain ip kube-proxy "$squat" '{ type filter hook input priority 0; }'
{ service late 10.96.0.88; slice late 8080 TCP 2; } | write late.yaml
sleep 1.5
out=$(from client tcp 10.96.0.80 80 10)
# Charged to nftables mode's own counter, as upstream (iptables' is not registered in this mode).
metrics=$(http_get 127.0.0.1 10249 /metrics)
failures=$(awk '$1 == "kubeproxy_sync_proxy_rules_nftables_sync_failures_total{ip_family=\"IPv4\"}" {print $2}' <<<"$metrics")
if grep -q 'failed, previous rules stay in place' "$log" && [ "$(count pod-1 "$out")" = 10 ] && [ "${failures:-0}" -ge 1 ] &&
   ! grep -q iptables_restore_failures <<<"$metrics"; then
  ok "refused transaction logged and counted in ..._nftables_sync_failures_total ($failures), other Services still served"
else bad "refused transaction: $(grep -c failed "$log") failures logged, traffic '$out', metric ${failures:-none}"; fi
# kproxy owns its table: a periodic full sync that saw the squatter flushed it as unwanted and
# deletes it a sync later, so it may be ours again already (then deleting it would be refused).
if grep -A1 "chain $squat" <<<"$(table)" | grep -q 'hook input'; then
  in_node nft delete chain ip kube-proxy "$squat" 2>/dev/null || true  # or it just was
fi
if wait_rules '10.96.0.88 . tcp . 80' 10 && [ "$(count pod-2 "$(from client tcp 10.96.0.88 80 5)")" = 5 ]; then
  ok "once the squatter was gone the retry programmed the new Service"
else bad "no recovery after the refused transaction"; fi

# The table deleted behind our back comes back (the canary check runs every sync period).
in_node nft delete table ip kube-proxy
if wait_rules 'map service-ips' 8 && [ "$(count pod-1 "$(from client tcp 10.96.0.80 80 5)")" = 5 ]; then
  ok "table deleted by someone else comes back"
else bad "table not restored after deletion"; fi

# Mode switches leave nothing of the other mode: iptables mode removes our table, nftables mode
# removes the iptables chains, and traffic works in each.
topo_stop_kproxy
topo_start_kproxy "$build/kproxy" "$work/manifests" "$log" --proxy-mode iptables --iptables-backend nft \
  --iptables-min-sync-period 50ms
deadline=$((SECONDS + 10))
while [ $SECONDS -lt $deadline ] && ! grep -q KUBE-SVC <<<"$(in_node iptables-nft-save -t nat 2>/dev/null)"; do sleep 0.1; done
ipt_ok=$( [ -z "$(table)" ] && [ "$(count pod-1 "$(from client tcp 10.96.0.80 80 5)")" = 5 ] && echo yes || echo no)
topo_stop_kproxy
start
wait_rules '10.96.0.80 . tcp . 80' 10 || true
left=$(in_node iptables-nft-save 2>/dev/null | grep -c 'KUBE-' || true)
if [ "$ipt_ok" = yes ] && [ "$left" = 0 ] && [ "$(count pod-1 "$(from client tcp 10.96.0.80 80 5)")" = 5 ]; then
  ok "nftables -> iptables -> nftables: each mode removed the other's rules and served traffic"
else bad "mode switch: iptables mode ok=$ipt_ok, KUBE- lines left in nftables mode: $left"; fi

# Cleanup removes our tables and nothing foreign.
topo_stop_kproxy
in_node nft add table ip foreign
in_node nft add chain ip foreign keep '{ type filter hook input priority 0; }'
in_node "$build/kproxy" --cleanup >>"$log" 2>&1
in_node "$build/kproxy" cleanup >>"$log" 2>&1  # idempotent
# (Captured first: under pipefail, grep -q closing the pipe early can fail nft with SIGPIPE.)
if [ -z "$(table)" ] && [ -z "$(table ip6)" ] && grep -q 'chain keep' <<<"$(in_node nft list table ip foreign)"; then
  ok "cleanup removed both kube-proxy tables and kept the foreign one"
else bad "cleanup: $(in_node nft list tables)"; fi

live_finish
