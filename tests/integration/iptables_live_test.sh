#!/usr/bin/env bash
# kproxy in iptables mode against the real kernel, with real connections between namespaces.
# Usage: iptables_live_test.sh BUILD_DIR nft|legacy. IP plan: see topology.sh; Services here:
#   web 10.96.0.80:80 (NodePort 30080) -> pods 1-3:8080    dns 10.96.0.10:53/udp -> pod-1:5353
#   sticky 10.96.0.81:80 (ClientIP affinity) -> pods 1-3   empty 10.96.0.82:80 (no endpoints)
#   self 10.96.0.83:80 -> pod-1 only (hairpin)             dns3 10.96.0.84:53/udp -> pods 1-3:5353
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

passed=0
failed=0
ok() { echo "ok   [$backend] $*"; passed=$((passed + 1)); }
bad() { echo "FAIL [$backend] $*"; failed=$((failed + 1)); }
from() { local ns=$1; shift; ip netns exec "$(topo_ns "$ns")" "$build/kproxy-testclient" "$@" 2>&1 || true; }
count() { awk -v n="$1" '$1 == n { print $2; f = 1 } END { if (!f) print 0 }' <<<"$2"; }
in_range() { [ "$1" -ge "$2" ] && [ "$1" -le "$3" ]; }
# http_get IP PORT PATH: a GET from inside the node namespace (bash's /dev/tcp; no curl needed).
http_get() {
  ip netns exec "$(topo_ns node)" timeout 5 bash -c \
    "exec 3<>/dev/tcp/$1/$2 && printf 'GET $3 HTTP/1.0\r\n\r\n' >&3 && cat <&3" 2>/dev/null || true
}

service() { # NAME IP [extra spec line] [extra port fields]
  printf 'kind: Service\nmetadata: {name: %s, namespace: t}\nspec:\n  clusterIP: %s\n  ports: [{name: http, port: 80, targetPort: 8080%s}]\n' \
    "$1" "$2" "${4:-}"
  [ -z "${3:-}" ] || printf '%s\n' "$3"
}
slice() { # SERVICE PORT PROTO POD... (a pod as N or N:notready)
  local svc=$1 port=$2 proto=$3
  shift 3
  printf -- '---\nkind: EndpointSlice\nmetadata: {name: %s-1, namespace: t, labels: {kubernetes.io/service-name: %s}}\naddressType: IPv4\nendpoints:\n' "$svc" "$svc"
  for p in "$@"; do
    local ready=true
    [ "${p#*:}" = notready ] && ready=false
    printf -- '- {addresses: [10.244.%s.2], conditions: {ready: %s}, nodeName: node1}\n' "${p%%:*}" "$ready"
  done
  [ $# -gt 0 ] || printf '  []\n'
  printf 'ports: [{name: %s, port: %s, protocol: %s}]\n' "$( [ "$proto" = UDP ] && echo dns || echo http)" "$port" "$proto"
}
write() { # FILE: stdin -> manifests dir, atomically (a rename is one inotify event)
  cat >"$work/.$1.tmp"
  mv "$work/.$1.tmp" "$work/manifests/$1"
}

topo_up "$build/kproxy-testserver"
mkdir -p "$work/manifests"
{ service web 10.96.0.80 '  type: NodePort' ', nodePort: 30080'; slice web 8080 TCP 1 2 3; } | write web.yaml
printf 'kind: Service\nmetadata: {name: dns, namespace: t}\nspec:\n  clusterIP: 10.96.0.10\n  ports: [{name: dns, port: 53, protocol: UDP}]\n' >"$work/dns.svc"
{ cat "$work/dns.svc"; slice dns 5353 UDP 1; } | write dns.yaml
printf 'kind: Service\nmetadata: {name: dns3, namespace: t}\nspec:\n  clusterIP: 10.96.0.84\n  ports: [{name: dns, port: 53, protocol: UDP}]\n' >"$work/dns3.svc"
{ cat "$work/dns3.svc"; slice dns3 5353 UDP 1 2 3; } | write dns3.yaml
# Health-check node ports: LoadBalancer + externalTrafficPolicy Local, endpoints here or elsewhere.
{ service lb 10.96.0.86 '  type: LoadBalancer
  externalTrafficPolicy: Local
  healthCheckNodePort: 32001' ', nodePort: 30086'; slice lb 8080 TCP 1 2; } | write lb.yaml
printf 'kind: Service\nmetadata: {name: lbremote, namespace: t}\nspec:\n  type: LoadBalancer\n  clusterIP: 10.96.0.87\n  externalTrafficPolicy: Local\n  healthCheckNodePort: 32002\n  ports: [{name: http, port: 80, nodePort: 30087}]\n---\nkind: EndpointSlice\nmetadata: {name: lbremote-1, namespace: t, labels: {kubernetes.io/service-name: lbremote}}\naddressType: IPv4\nendpoints: [{addresses: [10.244.3.2], nodeName: node2}]\nports: [{name: http, port: 8080}]\n' | write lbremote.yaml
# Dual-stack: the IPv6 half goes to ip6tables (no IPv6 routes here: rules only, no traffic).
printf 'kind: Service\nmetadata: {name: dual, namespace: t}\nspec:\n  clusterIP: 10.96.0.85\n  clusterIPs: [10.96.0.85, "fd00:96::85"]\n  ports: [{name: http, port: 80}]\n---\nkind: EndpointSlice\nmetadata: {name: dual-v6, namespace: t, labels: {kubernetes.io/service-name: dual}}\naddressType: IPv6\nendpoints: [{addresses: ["fd00:244:1::2"]}]\nports: [{name: http, port: 8080}]\n' | write dual.yaml
{ service sticky 10.96.0.81 '  sessionAffinity: ClientIP'; slice sticky 8080 TCP 1 2 3; } | write sticky.yaml
service empty 10.96.0.82 | write empty.yaml
{ service self 10.96.0.83; slice self 8080 TCP 1; } | write self.yaml

log="$work/kproxy.log"
# The sync period comes from a KubeProxyConfiguration file (the canary check below needs 3s to
# pass in time); the min sync period from a flag, which overrides the file.
cat >"$work/config.yaml" <<CFG
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
iptables:
  syncPeriod: 3s
  minSyncPeriod: 2s
CFG
start() { topo_start_kproxy "$build/kproxy" "$work/manifests" "$log" --iptables-backend "$backend" \
  --config "$work/config.yaml" --iptables-min-sync-period 50ms "$@"; }
start
topo_wait_for 't/self:http' nat 15 || { cat "$log"; bad "kproxy never programmed its rules"; exit 1; }

# 0b. Health-check node ports answer per local endpoint count, and close with their Service.
out=$(http_get 10.200.0.1 32001 /)
if grep -q '^HTTP/1.0 200' <<<"$out" && grep -qi '^X-Load-Balancing-Endpoint-Weight: 2' <<<"$out" && grep -q '"localEndpoints": 2' <<<"$out"; then
  ok "health check node port: 200 with 2 local endpoints"
else bad "health check node port 32001: $out"; fi
out=$(http_get 10.200.0.1 32002 /)
grep -q '^HTTP/1.0 503' <<<"$out" && grep -q '"localEndpoints": 0' <<<"$out" && ok "health check node port: 503 without local endpoints" ||
  bad "health check node port 32002: $out"
rm "$work/manifests/lbremote.yaml"
sleep 1
[ -z "$(http_get 10.200.0.1 32002 /)" ] && ok "health check node port closed with its Service" || bad "port 32002 still answers"

# 0. Health and metrics answer like kube-proxy's; both families are programmed.
out=$(http_get 10.200.0.1 10256 /healthz)
if grep -q '^HTTP/1.0 200' <<<"$out" && grep -q '"healthy": true' <<<"$out" && grep -q '"lastUpdated": ' <<<"$out"; then
  ok "/healthz on the node IP: 200 with kube-proxy's JSON"
else bad "/healthz: $out"; fi
out=$(http_get 127.0.0.1 10249 /metrics)
if grep -q '^kubeproxy_sync_proxy_rules_duration_seconds_bucket{le="0.001"}' <<<"$out" &&
   grep -q '^kubeproxy_sync_full_proxy_rules_duration_seconds_count [1-9]' <<<"$out"; then
  ok "/metrics on 127.0.0.1:10249 has the sync histograms"
else bad "/metrics: $(head -c 300 <<<"$out")"; fi
v6=$(ip netns exec "$(topo_ns node)" "ip6tables-$backend-save" -t nat 2>/dev/null || true)
if grep -q -- '-d fd00:96::85/128 .*t/dual:http cluster IP' <<<"$v6" && grep -q -- '--to-destination \[fd00:244:1::2\]:8080' <<<"$v6"; then
  ok "dual-stack Service programmed in ip6tables too"
else bad "no IPv6 rules for the dual-stack Service"; fi

# balanced LABEL PROTO IP PORT: 300 flows from the client, each of pods 1-3 gets 20-47%; 90 from
# the node reach all three.
balanced() {
  local label=$1 proto=$2 ip=$3 port=$4 out c1 c2 c3
  out=$(from client "$proto" "$ip" "$port" 300)
  c1=$(count pod-1 "$out"); c2=$(count pod-2 "$out"); c3=$(count pod-3 "$out")
  if in_range "$c1" 60 141 && in_range "$c2" 60 141 && in_range "$c3" 60 141; then ok "$label from client: $c1/$c2/$c3 of 300"
  else bad "$label from client unbalanced or failing: $(tr '\n' ' ' <<<"$out")"; fi
  out=$(from node "$proto" "$ip" "$port" 90)
  if [ "$(count pod-1 "$out")" -gt 0 ] && [ "$(count pod-2 "$out")" -gt 0 ] && [ "$(count pod-3 "$out")" -gt 0 ]; then
    ok "$label from the node reaches all endpoints"
  else bad "$label from the node: $(tr '\n' ' ' <<<"$out")"; fi
}

# 1. ClusterIP TCP balances from the client and from the node itself.
balanced "ClusterIP TCP" tcp 10.96.0.80 80

# 2. UDP ClusterIP: every query from a new source port is a new flow, balanced like TCP.
balanced "ClusterIP UDP" udp 10.96.0.84 53
# A single-endpoint UDP service (used again below); NodePort from the client.
out=$(from client udp 10.96.0.10 53 20)
[ "$(count pod-1 "$out")" = 20 ] && ok "UDP ClusterIP from client" || bad "UDP ClusterIP from client: $out"
out=$(from node udp 10.96.0.10 53 20)
[ "$(count pod-1 "$out")" = 20 ] && ok "UDP ClusterIP from the node" || bad "UDP ClusterIP from the node: $out"
out=$(from client tcp 10.200.0.1 30080 90)
if [ "$(count pod-1 "$out")" -gt 0 ] && [ "$(count pod-2 "$out")" -gt 0 ] && [ "$(count pod-3 "$out")" -gt 0 ]; then
  ok "NodePort from the client reaches all endpoints"
else bad "NodePort: $(tr '\n' ' ' <<<"$out")"; fi

# 3. sessionAffinity ClientIP sticks.
out=$(from client tcp 10.96.0.81 80 40)
[ "$(wc -l <<<"$out")" = 1 ] && [ "$(awk '{print $2}' <<<"$out")" = 40 ] && grep -q '^pod-' <<<"$out" && ok "affinity: 40 of 40 to $(awk '{print $1}' <<<"$out")" ||
  bad "affinity did not stick: $(tr '\n' ' ' <<<"$out")"

# 4. No endpoints: refused (REJECT), quickly, from the client and from the node.
for who in client node; do
  t0=$(date +%s%N)
  out=$(from "$who" tcp 10.96.0.82 80 1 --timeout-ms 3000)
  ms=$(( ($(date +%s%N) - t0) / 1000000 ))
  if [ "$(count refused "$out")" = 1 ] && [ "$ms" -lt 500 ]; then ok "no endpoints: refused from $who in ${ms}ms"
  else bad "no endpoints from $who: '$out' after ${ms}ms"; fi
done

# 5. Hairpin: pod-1 reaching a Service whose only endpoint is itself.
out=$(from pod1 tcp 10.96.0.83 80 5)
[ "$(count pod-1 "$out")" = 5 ] && ok "hairpin: pod-1 reaches itself through its Service" || bad "hairpin: $out"

# 6. Restart keeps an established connection; 7. removed and not-ready endpoints get nothing.
ip netns exec "$(topo_ns client)" "$build/kproxy-testclient" hold 10.96.0.80 80 4 >"$work/hold" 2>&1 &
holder=$!
sleep 1
topo_stop_kproxy
start
topo_wait_for 't/self:http' nat 10 || true
wait "$holder" || true
grep -q '^held' "$work/hold" && ok "restart kept an established connection ($(cat "$work/hold"))" ||
  bad "connection broke across a restart: $(cat "$work/hold")"

{ service web 10.96.0.80 '  type: NodePort' ', nodePort: 30080'; slice web 8080 TCP 1 2:notready; } | write web.yaml
sleep 1
out=$(from client tcp 10.96.0.80 80 60)
if [ "$(count pod-3 "$out")" = 0 ] && [ "$(count pod-2 "$out")" = 0 ] && [ "$(count pod-1 "$out")" = 60 ]; then
  ok "removed endpoint and not-ready endpoint get no connections 1s after the change"
else bad "after removing pod-3 and pod-2 not ready: $(tr '\n' ' ' <<<"$out")"; fi

# 8. UDP conntrack: a client on a fixed source port follows its backend being replaced.
out=$(from client udp 10.96.0.10 53 3 --src-port 40053)
{ cat "$work/dns.svc"; slice dns 5353 UDP 2; } | write dns.yaml
topo_wait_for 't/dns:dns -> 10.244.2.2' nat 5 || true
sleep 0.3
out2=$(from client udp 10.96.0.10 53 3 --src-port 40053)
if [ "$(count pod-1 "$out")" = 3 ] && [ "$(count pod-2 "$out2")" = 3 ]; then ok "UDP flow from a fixed port moved to the new backend"
else bad "UDP conntrack: before '$out' after '$out2' (stale flow kept?)"; fi

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
failures=$(http_get 127.0.0.1 10249 /metrics | awk '$1 == "kubeproxy_sync_proxy_rules_iptables_restore_failures_total" {print $2}')
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

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
