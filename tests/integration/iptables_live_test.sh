#!/usr/bin/env bash
# kproxy in iptables mode against the real kernel, with real connections between namespaces.
# Usage: iptables_live_test.sh BUILD_DIR nft|legacy. IP plan and Services: topology.sh and
# live_lib.sh (whose scenarios every mode runs); the iptables-specific ones are below.
set -euo pipefail
here=$(dirname "$(readlink -f "$0")")
build=${1:?usage: $0 BUILD_DIR nft|legacy}
backend=${2:?usage: $0 BUILD_DIR nft|legacy}
if [ "$(id -u)" -ne 0 ]; then
  echo "SKIP: needs root for network namespaces"
  exit 77
fi
TOPO_PREFIX="kproxy-test-live-$backend-$$"
TOPO_SAVE="iptables-$backend-save"
. "$here/topology.sh"
work=$(mktemp -d)
trap 'topo_cleanup; rm -rf "$work"' EXIT
trap 'exit 130' INT TERM

LIVE_TAG=$backend
DNS_MOVED_PATTERN='t/dns:dns -> 10.244.2.2'
. "$here/live_lib.sh"
wait_rules() { topo_wait_for "$1" nat "$2"; }

topo_up "$build/kproxy-testserver"
live_manifests

log="$work/kproxy.log"
# The periods come from a KubeProxyConfiguration file (the canary check below needs 3s to pass
# in time). With --config, as upstream, --iptables-min-sync-period (and topology.sh's
# --cluster-cidr) are ignored and warned about: the file's values apply, not the flag's 20s.
cat >"$work/config.yaml" <<CFG
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clusterCIDR: 10.244.0.0/16
iptables:
  syncPeriod: 3s
  minSyncPeriod: 50ms
CFG
start() { topo_start_kproxy "$build/kproxy" "$work/manifests" "$log" --iptables-backend "$backend" \
  --config "$work/config.yaml" --iptables-min-sync-period 20s "$@"; }
start
topo_wait_for 't/self:http' nat 15 || { cat "$log"; bad "kproxy never programmed its rules"; exit 1; }
grep -q 'ignored because --config is given, as kube-proxy does (set them in the file): .*--iptables-min-sync-period' "$log" &&
  ok "a flag the config file overrides is named in a warning" || bad "no warning about --iptables-min-sync-period with --config"

live_health_check_node_ports
rm "$work/manifests/lbremote.yaml"
sleep 1
[ -z "$(http_get 10.200.0.1 32002 /)" ] && ok "health check node port closed with its Service" || bad "port 32002 still answers"

# 0. Health and metrics answer like kube-proxy's; both families are programmed.
out=$(http_get 10.200.0.1 10256 /healthz)
if grep -q '^HTTP/1.0 200' <<<"$out" && grep -q '"healthy":true' <<<"$out" && grep -q '"lastUpdated":"' <<<"$out"; then
  ok "/healthz on the node IP: 200 with kube-proxy's JSON"
else bad "/healthz: $out"; fi
out=$(http_get 127.0.0.1 10249 /metrics)
if grep -q '^kubeproxy_sync_proxy_rules_duration_seconds_bucket{ip_family="IPv4",le="0.001"}' <<<"$out" &&
   grep -q '^kubeproxy_sync_full_proxy_rules_duration_seconds_count{ip_family="IPv4"} [1-9]' <<<"$out" &&
   grep -q '^kubeproxy_sync_proxy_rules_iptables_total{ip_family="IPv4",table="nat"} [1-9]' <<<"$out"; then
  ok "/metrics on 127.0.0.1:10249 has the sync histograms"
else bad "/metrics: $(head -c 300 <<<"$out")"; fi
# The metrics port as upstream's: /healthz is the generic "ok", /configz the running configuration.
hz=$(http_get 127.0.0.1 10249 /healthz)
cz=$(http_get 127.0.0.1 10249 /configz)
if grep -q '^ok$' <<<"$(tail -1 <<<"$hz")" && grep -q '"kubeproxy.config.k8s.io":{' <<<"$cz" && grep -q '"syncPeriod":"3s"' <<<"$cz" &&
   grep -q '^kubernetes_build_info{.*git_version="v1.37' <<<"$(http_get 127.0.0.1 10249 /metrics)"; then
  ok "metrics port: /healthz ok, /configz with the file's iptables.syncPeriod, kubernetes_build_info"
else bad "metrics port: healthz '$(tail -1 <<<"$hz")', configz '$(tail -c 200 <<<"$cz")'"; fi
v6=$(ip netns exec "$(topo_ns node)" "ip6tables-$backend-save" -t nat 2>/dev/null || true)
if grep -q -- '-d fd00:96::85/128 .*t/dual:http cluster IP' <<<"$v6" && grep -q -- '--to-destination \[fd00:244:1::2\]:8080' <<<"$v6"; then
  ok "dual-stack Service programmed in ip6tables too"
else bad "no IPv6 rules for the dual-stack Service"; fi

live_common_scenarios

# 9. A failed restore keeps working rules, is logged, and is retried until it works. A foreign
# rule holding one of our chains makes its deletion fail, as in real clusters. (legacy keeps the
# previous rules whole; nft loads full syncs in pieces, each consistent, so the changed service
# may already use its new endpoint: either way every connection is answered by a pod.)
sep=$(topo_save nat | awk '/-A KUBE-SEP-.*t\/self:http.*DNAT/ {print $2; exit}')
ip netns exec "$(topo_ns node)" "iptables-$backend" -t nat -N FOREIGN-HOLD
ip netns exec "$(topo_ns node)" "iptables-$backend" -t nat -A FOREIGN-HOLD -j "$sep"
{ service self 10.96.0.83; slice self 8080 TCP 2; } | write self.yaml
sleep 1.5
out=$(from client tcp 10.96.0.83 80 5)
answered=$(( $(count pod-1 "$out") + $(count pod-2 "$out") ))
failures=$(http_get 127.0.0.1 10249 /metrics | awk '$1 == "kubeproxy_sync_proxy_rules_iptables_restore_failures_total{ip_family=\"IPv4\"}" {print $2}')
if grep -q 'failed, previous rules stay in place' "$log" && [ "$answered" = 5 ] && [ "${failures:-0}" -ge 1 ]; then
  ok "failed restore logged and counted ($failures), traffic still served ($(tr '\n' ' ' <<<"$out"))"
else bad "failed restore: log $(grep -c failed "$log") failures, traffic '$out'"; fi
ip netns exec "$(topo_ns node)" "iptables-$backend" -t nat -F FOREIGN-HOLD
deadline=$((SECONDS + 10))
while [ $SECONDS -lt $deadline ] && grep -q ":$sep " <<<"$(topo_save nat)"; do sleep 0.2; done
out=$(from client tcp 10.96.0.83 80 5)
if [ "$(count pod-2 "$out")" = 5 ] && ! grep -q ":$sep " <<<"$(topo_save nat)"; then
  ok "retry succeeded once the blocker was gone (stale chain deleted)"
else bad "no recovery after failure: $out"; fi

# 10. Canary: tables flushed behind our back are restored by a full sync.
ip netns exec "$(topo_ns node)" "$build/kproxy" cleanup >/dev/null 2>&1
if topo_wait_for 'KUBE-SVC-' nat 8 && [ "$(count pod-1 "$(from client tcp 10.96.0.80 80 5)")" = 5 ]; then
  ok "rules flushed by someone else come back (canary)"
else bad "rules not restored after a flush"; fi

# 11. Cleanup removes everything of ours and nothing foreign.
topo_stop_kproxy
ip netns exec "$(topo_ns node)" "iptables-$backend" -t nat -A PREROUTING -p tcp --dport 9999 -j FOREIGN-HOLD
ip netns exec "$(topo_ns node)" "$build/kproxy" --cleanup >>"$log" 2>&1
ip netns exec "$(topo_ns node)" "$build/kproxy" cleanup >>"$log" 2>&1  # idempotent
left=$( { topo_save nat; topo_save filter; topo_save mangle; } | grep -c 'KUBE-' || true)
foreign=$(topo_save nat | grep -c 'FOREIGN-HOLD' || true)
if [ "$left" = 0 ] && [ "$foreign" -ge 2 ]; then ok "cleanup removed all KUBE- rules and chains, kept the foreign chain and rule"
else bad "cleanup left $left KUBE- lines, foreign lines $foreign"; fi

live_finish
