#!/usr/bin/env bash
# kproxy started as kube-proxy is started: installers' command lines (GKE, kops, EKS, our
# DaemonSet) against a test API server, --init-only then a proxy with NET_ADMIN/NET_RAW only,
# nftables mode's "primary" NodePort addresses from the Node object, the AllowServiceExternalIPs
# gate, health-check node ports (IPv6, dual-stack, nodePortAddresses, 503 while syncs fail), nfacct,
# rest_client metrics, --profiling, nodePortAddresses keywords, objects upstream 1.37 serves, UDP
# conntrack on Service deletion and termination, ServiceCIDRs (nftables drops unallocated ClusterIPs), and the
# exit when the config file (a ConfigMap-style symlinked mount) changes.
# Usage: dropin_test.sh BUILD_DIR. IP plan: topology.sh, plus 10.200.0.9 on the node's c0 (a
# local address that is not the Node's primary IP); the API server on the node's 127.0.0.1.
set -euo pipefail
here=$(dirname "$(readlink -f "$0")")
build=${1:?usage: $0 BUILD_DIR}
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root for network namespaces"; exit 77; }
for tool in python3 openssl curl setpriv; do
  command -v "$tool" >/dev/null || { echo "SKIP: $tool missing (scripts/install-deps.sh installs it)"; exit 77; }
done
TOPO_PREFIX="kproxy-test-dropin-$$"
TOPO_SAVE="iptables-nft-save"
. "$here/topology.sh"
. "$here/apiserver.sh"
work=$(mktemp -d)
trap 'topo_cleanup; rm -rf "$work"' EXIT
trap 'exit 130' INT TERM
LIVE_TAG=dropin
log="$work/kproxy.log"
. "$here/live_lib.sh"
in_node() { ip netns exec "$(topo_ns node)" "$@"; }
answers_on() { # IP PORT: all of 12 connections from the client answered by a pod
  local out
  out=$(from client tcp "$1" "$2" 12 --timeout-ms 1000)
  [ "$(( $(count pod-1 "$out") + $(count pod-2 "$out") + $(count pod-3 "$out") ))" = 12 ]
}
none_on() { # IP PORT: none of 4 connections answered by a pod
  local out
  out=$(from client tcp "$1" "$2" 4 --timeout-ms 500)
  [ "$(( $(count pod-1 "$out") + $(count pod-2 "$out") + $(count pod-3 "$out") ))" = 0 ]
}
nat_has() { grep -q -- "$1" <<<"$(topo_save nat)"; }
nft_has() { grep -q -- "$1" <<<"$(in_node nft list table ip kube-proxy 2>/dev/null || true)"; }
stop() { topo_stop_kproxy; }
run() { # LOG ARGS...: kproxy in the node namespace (no flags added)
  local out=$1
  shift
  # `ip netns exec` directly (it execs kproxy): $! is kproxy itself, so stop() ends it. Through a
  # shell function, $! would be a subshell and kproxy would outlive the kill.
  ip netns exec "$(topo_ns node)" "$build/kproxy" "$@" >>"$out" 2>&1 &
  KPROXY_PID=$!
  TOPO_PIDS+=("$KPROXY_PID")
}
clean_node() { in_node "$build/kproxy" cleanup >/dev/null 2>&1 || true; }

topo_up "$build/kproxy-testserver"
ip -n "$(topo_ns node)" addr add 10.200.0.9/24 dev c0

# Manifests: web (NodePort 30080, pods 1-3), ext (externalIPs 10.50.0.5 -> pod-1), and the Node
# with its primary IP.
mkdir -p "$work/manifests"
{ service web 10.96.0.80 '  type: NodePort' ', nodePort: 30080'; slice web 8080 TCP 1 2 3; } | write web.yaml
{ service ext 10.96.0.88 '  externalIPs: [10.50.0.5]'; slice ext 8080 TCP 1; } | write ext.yaml
printf 'kind: Node\nmetadata: {name: node1, labels: {kubernetes.io/hostname: node1}}\nstatus:\n  addresses: [{type: InternalIP, address: 10.200.0.1}, {type: Hostname, address: node1}]\n' |
  write node.yaml

# 1. nftables mode: NodePorts on the Node's primary IP only (upstream's default there), and
#    AllowServiceExternalIPs=false serves no externalIPs.
run "$log" --proxy-mode nftables --manifests "$work/manifests" --hostname-override node1 --cluster-cidr 10.244.0.0/16 \
  --feature-gates AllowServiceExternalIPs=false
if until_ok 15 nft_has '10.96.0.80 . tcp . 80' && answers_on 10.200.0.1 30080 && none_on 10.200.0.9 30080; then
  ok "nftables mode: NodePort answers on the primary node IP 10.200.0.1, not on 10.200.0.9 (nodePortAddresses primary)"
else bad "primary NodePorts: $(from client tcp 10.200.0.9 30080 2 --timeout-ms 500 | tr '\n' ' ')"; fi
grep -q 'primary node IPs: 10.200.0.1' "$log" && ok "the primary node IP came from the Node object" ||
  bad "no primary node IP line: $(grep -i primary "$log" | tail -2)"
if nft_has '10.96.0.88 . tcp . 80' && ! nft_has '10.50.0.5'; then
  ok "AllowServiceExternalIPs=false: ext's ClusterIP served, its externalIP 10.50.0.5 not"
else bad "externalIP with the gate off: $(in_node nft list table ip kube-proxy | grep -c 10.50.0.5) lines"; fi
# Health as upstream 1.37: per-family status; a Node tainted for deletion by the cluster
# autoscaler fails /healthz (load balancers drain it) but not /livez.
http_get() { in_node timeout 5 bash -c "exec 3<>/dev/tcp/127.0.0.1/10256 && printf 'GET $1 HTTP/1.0\r\n\r\n' >&3 && cat <&3" 2>/dev/null || true; }
h=$(http_get /healthz)
if grep -q '^HTTP/1.0 200' <<<"$h" && grep -q '"nodeEligible":true,"healthy":true,"status":{"IPv4":{"lastUpdated":"' <<<"$h"; then
  ok "/healthz: 200 with upstream 1.37's JSON (per-family status)"
else bad "/healthz: $(tr '\r\n' '  ' <<<"$h")"; fi
printf 'kind: Node\nmetadata: {name: node1, labels: {kubernetes.io/hostname: node1}}\nspec:\n  taints: [{key: ToBeDeletedByClusterAutoscaler, value: "1764000000", effect: NoSchedule}]\nstatus:\n  addresses: [{type: InternalIP, address: 10.200.0.1}]\n' |
  write node.yaml
tainted() { grep -q '^HTTP/1.0 503' <<<"$(http_get /healthz)"; }
if until_ok 5 tainted && grep -q '"nodeEligible":false' <<<"$(http_get /healthz)" && grep -q '^HTTP/1.0 200' <<<"$(http_get /livez)" &&
   ! grep -q nodeEligible <<<"$(http_get /livez)"; then
  ok "Node tainted ToBeDeletedByClusterAutoscaler: /healthz 503 nodeEligible false, /livez 200 without it"
else bad "tainted Node: $(http_get /healthz | tail -1)"; fi
printf 'kind: Node\nmetadata: {name: node1, labels: {kubernetes.io/hostname: node1}}\nstatus:\n  addresses: [{type: InternalIP, address: 10.200.0.1}, {type: Hostname, address: node1}]\n' |
  write node.yaml
stop
run "$log" --proxy-mode nftables --manifests "$work/manifests" --hostname-override node1 --cluster-cidr 10.244.0.0/16
until_ok 15 nft_has '10.50.0.5' && ok "gate at its default (true): the externalIP is served" || bad "externalIP not served by default"
# The Node's address changes: the next sync moves the NodePorts, without a restart.
printf 'kind: Node\nmetadata: {name: node1, labels: {kubernetes.io/hostname: node1}}\nstatus:\n  addresses: [{type: InternalIP, address: 10.200.0.9}]\n' |
  write node.yaml
if until_ok 10 answers_on 10.200.0.9 30080 && none_on 10.200.0.1 30080; then
  ok "the Node's InternalIP changed to 10.200.0.9: NodePorts followed it"
else bad "NodePorts after the Node's address change: $(grep 'primary node IPs' "$log" | tail -1)"; fi
stop
clean_node
printf 'kind: Node\nmetadata: {name: node1, labels: {kubernetes.io/hostname: node1}}\nstatus:\n  addresses: [{type: InternalIP, address: 10.200.0.1}, {type: Hostname, address: node1}]\n' |
  write node.yaml

# 1b. Detect-local modes as the kernel holds them: nftables with InterfaceNamePrefix (the pods'
#     links are p1..p3), iptables with NodeCIDR (the Node's spec.podCIDRs) and BridgeInterface.
printf 'kind: Node\nmetadata: {name: node1, labels: {kubernetes.io/hostname: node1}}\nspec: {podCIDRs: [10.244.0.0/17]}\nstatus:\n  addresses: [{type: InternalIP, address: 10.200.0.1}]\n' |
  write node.yaml
run "$log" --proxy-mode nftables --manifests "$work/manifests" --hostname-override node1 \
  --detect-local-mode InterfaceNamePrefix --pod-interface-name-prefix p
if until_ok 15 nft_has 'iifname != "p\*" jump mark-for-masquerade' && answers_on 10.96.0.80 80 &&
   [ "$(count pod-2 "$(from pod1 tcp 10.96.0.80 80 12)")" -gt 0 ]; then
  ok "nftables, detect-local InterfaceNamePrefix: the kernel holds iifname != \"p*\"; client and pod traffic served"
else bad "InterfaceNamePrefix in nftables: $(in_node nft list table ip kube-proxy | grep -m2 iifname)"; fi
stop
clean_node
ipt_has() { grep -q -- "$1" <<<"$(topo_save nat)"; }
run "$log" --proxy-mode iptables --iptables-backend nft --manifests "$work/manifests" --hostname-override node1 \
  --detect-local-mode NodeCIDR
until_ok 15 ipt_has '! -s 10.244.0.0/17 -d 10.96.0.80/32 .*cluster IP.*-j KUBE-MARK-MASQ' &&
  ok "iptables, detect-local NodeCIDR: the Node's podCIDR 10.244.0.0/17 is the local range" ||
  bad "NodeCIDR: $(topo_save nat | grep -m1 'cluster IP.*MARK-MASQ')"
stop
clean_node
run "$log" --proxy-mode iptables --iptables-backend nft --manifests "$work/manifests" --hostname-override node1 \
  --detect-local-mode BridgeInterface --pod-bridge-interface cbr0
until_ok 15 ipt_has '-d 10.96.0.80/32 ! -i cbr0 .*cluster IP.*-j KUBE-MARK-MASQ' && answers_on 10.96.0.80 80 &&
  ok "iptables, detect-local BridgeInterface: ! -i cbr0 in the kernel, traffic served" ||
  bad "BridgeInterface: $(topo_save nat | grep -m1 'cluster IP.*MARK-MASQ')"
stop
clean_node

# 2. --init-only: the privileged start-up alone (another mode's leftovers removed, sysctls set),
#    nothing proxied; then the proxy with only NET_ADMIN and NET_RAW programs rules and writes no sysctl.
in_node nft add table ip kube-proxy
in_node sysctl -qw net.ipv4.conf.all.route_localnet=0
set +e
out=$(timeout 30 ip netns exec "$(topo_ns node)" "$build/kproxy" --init-only --proxy-mode iptables --iptables-backend nft \
  --manifests "$work/manifests" --hostname-override node1 2>&1)
rc=$?
set -e
if [ "$rc" = 0 ] && [ "$(in_node sysctl -n net.ipv4.conf.all.route_localnet)" = 1 ] &&
   ! in_node nft list table ip kube-proxy >/dev/null 2>&1 && ! nat_has 'KUBE-SERVICES' &&
   grep -q 'initialization done; exiting (--init-only)' <<<"$out"; then
  ok "--init-only: exit 0, route_localnet=1, nftables mode's table removed, no rules programmed"
else bad "--init-only: exit $rc, route_localnet=$(in_node sysctl -n net.ipv4.conf.all.route_localnet), KUBE lines $(topo_save nat | grep -c KUBE), nft table: $(in_node nft list tables | tr '\n' ' '): $(tail -3 <<<"$out")"; fi
: >"$work/hardened.log"
# /proc/sys read-only for it (in a mount namespace of its own): a sysctl it tried to write would
# be a "cannot set" warning. nf_conntrack_max aside: outside the initial namespace the kernel
# refuses it to --init-only as well.
ip netns exec "$(topo_ns node)" unshare -m sh -c 'mount --bind /proc/sys /proc/sys && mount -o remount,bind,ro /proc/sys && exec "$@"' sh \
  setpriv --bounding-set=-all,+net_admin,+net_raw --inh-caps=-all "$build/kproxy" --proxy-mode iptables \
  --iptables-backend nft --manifests "$work/manifests" --hostname-override node1 --cluster-cidr 10.244.0.0/16 \
  >>"$work/hardened.log" 2>&1 &
KPROXY_PID=$!
TOPO_PIDS+=("$KPROXY_PID")
if until_ok 15 nat_has 't/web:http cluster IP' && answers_on 10.96.0.80 80 &&
   ! grep 'cannot set net/' "$work/hardened.log" | grep -vq nf_conntrack_max; then
  ok "after --init-only, kproxy with NET_ADMIN and NET_RAW only programs rules, serves, and writes no sysctl"
else bad "hardened run: $(grep -E '^[EW]' "$work/hardened.log" | tail -3)"; fi
stop
clean_node

# 2b. Health-check node ports as upstream 1.37 serves them: an IPv6-only Service has one too, the
#     default is one dual-stack socket (Go's "0.0.0.0"), nodePortAddresses pick the addresses, and
#     a proxy whose syncs fail answers 503 (serviceProxyHealthy false) even with local endpoints.
#     The failure: an iptables-nft-restore in PATH that fails while $work/fail exists.
mkdir -p "$work/bin"
for tool in iptables-nft-restore ip6tables-nft-restore; do
  printf '#!/bin/sh\n[ -e %s/fail ] && { echo "injected failure" >&2; exit 1; }\nexec %s "$@"\n' "$work" "$(command -v "$tool")" >"$work/bin/$tool"
  chmod +x "$work/bin/$tool"
done
lbsvc() { # NAME FAMILY IP HCPORT NODEPORT ENDPOINT
  printf 'kind: Service\nmetadata: {name: %s, namespace: t}\nspec:\n  type: LoadBalancer\n  ipFamilies: [%s]\n  clusterIP: "%s"\n  clusterIPs: ["%s"]\n  externalTrafficPolicy: Local\n  healthCheckNodePort: %s\n  ports: [{name: http, port: 80, targetPort: 8080, nodePort: %s}]\n---\nkind: EndpointSlice\nmetadata: {name: %s-1, namespace: t, labels: {kubernetes.io/service-name: %s}}\naddressType: %s\nendpoints: [{addresses: ["%s"], conditions: {ready: true}, nodeName: node1}]\nports: [{name: http, port: 8080}]\n' \
    "$1" "$2" "$3" "$3" "$4" "$5" "$1" "$1" "$2" "$6"
}
lbsvc lb4 IPv4 10.96.0.91 32010 30091 10.244.1.2 | write lb4.yaml
lbsvc lb6 IPv6 fd00:96::92 32011 30092 fd00:244:1::2 | write lb6.yaml
hc() { # ADDRESS PORT: the HTTP status of the health-check port (000: no answer)
  local url=http://$1:$2/
  [[ $1 == *:* ]] && url="http://[$1]:$2/"
  in_node curl -s -m 2 -o "$work/hc.body" -w '%{http_code}' "$url" 2>/dev/null || true  # 000: no answer
}
hc_is() { [ "$(hc "$1" "$2")" = "$3" ]; }
listeners() { in_node ss -Hltn "sport = :$1" | awk '{print $4}' | sort | tr '\n' ' '; }
PATH="$work/bin:$PATH" run "$log" --proxy-mode iptables --iptables-backend nft --manifests "$work/manifests" \
  --hostname-override node1 --cluster-cidr 10.244.0.0/16,fd00:244::/48 --iptables-sync-period 2s --iptables-min-sync-period 0s
if until_ok 15 hc_is ::1 32011 200 && grep -q '"name": "lb6"' "$work/hc.body" && hc_is 127.0.0.1 32011 200 &&
   hc_is 10.200.0.1 32010 200 && hc_is ::1 32010 200 && [ "$(listeners 32011)" = "*:32011 " ]; then
  ok "health-check ports: IPv6-only t/lb6 has one; one dual-stack socket per port (*:32011) answers IPv4 and IPv6"
else bad "health-check ports by default: lb6 ::1 $(hc ::1 32011) 127.0.0.1 $(hc 127.0.0.1 32011), lb4 $(hc 10.200.0.1 32010); listeners $(listeners 32011)"; fi
# nfacct, as upstream's iptables mode: the INVALID drop and a 127.0.0.0/8 NodePort rule count into
# kernel accounting objects, read at each /metrics scrape.
filter_has() { grep -q -- "$1" <<<"$(topo_save filter)"; }
metric() { in_node curl -s -m 2 http://127.0.0.1:10249/metrics | awk -v m="$1" '$1 == m {print $2}'; }
from node tcp 127.0.0.1 30080 3 --timeout-ms 1000 >/dev/null
localhost_pkts=$(metric kubeproxy_iptables_localhost_nodeports_accepted_packets_total)
if nat_has '-A KUBE-NODEPORTS -d 127.0.0.0/8 -p tcp .*--dport 30080 -m nfacct --nfacct-name  *localhost_nps_accepted_pkts -j KUBE-EXT-' &&
   filter_has '-A KUBE-FORWARD -m conntrack --ctstate INVALID -m nfacct --nfacct-name  *ct_state_invalid_dropped_pkts -j DROP' &&
   [ "${localhost_pkts:-0}" -ge 3 ] && [ -n "$(metric kubeproxy_iptables_ct_state_invalid_dropped_packets_total)" ]; then
  ok "nfacct: upstream's -m nfacct rules in the kernel; 3 connections to 127.0.0.1:30080 counted ($localhost_pkts packets in kubeproxy_iptables_localhost_nodeports_accepted_packets_total)"
else bad "nfacct: localhost packets '${localhost_pkts}'; $(topo_save nat | grep -m1 'nfacct' || echo 'no nfacct rule'); $(grep -m1 nfacct "$log")"; fi
[ "$(in_node curl -s -o /dev/null -m 2 -w '%{http_code}' http://127.0.0.1:10249/debug/kproxy/state)" = 404 ] &&
  ok "without --profiling there is no debug endpoint (404)" || bad "debug endpoint served without --profiling"
touch "$work/fail"
{ service web 10.96.0.80 '  type: NodePort' ', nodePort: 30080'; slice web 8080 TCP 1 2; } | write web.yaml
unhealthy() { hc_is 10.200.0.1 32010 503; }
if until_ok 15 unhealthy && grep -q '"serviceProxyHealthy": false' "$work/hc.body" && grep -q '"localEndpoints": 1' "$work/hc.body" &&
   grep -q '^HTTP/1.0 503' <<<"$(http_get /healthz)" && grep -q 'injected failure' "$log"; then
  ok "syncs failing for longer than 2 x sync period: t/lb4's health-check port 503 with its local endpoint (serviceProxyHealthy false), /healthz 503"
else bad "proxy unhealthy: hc $(hc 10.200.0.1 32010) $(tr -d '\n\t' <"$work/hc.body" 2>/dev/null), healthz $(http_get /healthz | head -1)"; fi
rm -f "$work/fail"
if until_ok 15 hc_is 10.200.0.1 32010 200 && grep -q '"serviceProxyHealthy": true' "$work/hc.body"; then
  ok "syncs succeed again: the health-check port answers 200"
else bad "after recovery: hc $(hc 10.200.0.1 32010)"; fi
stop
clean_node
# nodePortAddresses with IPv4 CIDRs only: IPv4 listens on the node's addresses inside them (not on
# 127.0.0.1), IPv6 (no CIDR of its own: all of it, as upstream) on its own wildcard.
in_node sysctl -qw net.ipv4.conf.all.route_localnet=0
PATH="$work/bin:$PATH" run "$log" --proxy-mode iptables --iptables-backend nft --manifests "$work/manifests" \
  --hostname-override node1 --cluster-cidr 10.244.0.0/16,fd00:244::/48 --nodeport-addresses 10.200.0.0/24 --profiling
if until_ok 15 hc_is 10.200.0.9 32010 200 && hc_is 10.200.0.1 32010 200 && hc_is 127.0.0.1 32010 000 &&
   hc_is ::1 32011 200 && [ "$(listeners 32010)" = "10.200.0.1:32010 10.200.0.9:32010 [::]:32010 " ]; then
  ok "--nodeport-addresses 10.200.0.0/24: health-check ports on 10.200.0.1 and 10.200.0.9 and IPv6's [::], not on 127.0.0.1"
else bad "nodePortAddresses health checks: listeners $(listeners 32010); 127.0.0.1 $(hc 127.0.0.1 32010), 10.200.0.9 $(hc 10.200.0.9 32010)"; fi
[ "$(in_node sysctl -n net.ipv4.conf.all.route_localnet)" = 0 ] &&
  ok "nodePortAddresses without loopback: route_localnet stays 0 (CVE-2020-8558)" || bad "route_localnet set without loopback NodePorts"
debug() { in_node curl -s -m 2 -w '\n%{http_code}' "http://127.0.0.1:10249/debug/kproxy$1"; }
d=$(debug /services/t/lb6)
if [ "$(tail -1 <<<"$d")" = 200 ] && grep -q '"clusterIP": "fd00:96::92"' <<<"$d" && grep -q '"healthCheckNodePort": 32011' <<<"$d" &&
   grep -q '"\[fd00:244:1::2\]:8080"' <<<"$d"; then
  ok "--profiling: /debug/kproxy/services/t/lb6 shows the programmed IPv6 Service, its health-check port and endpoint"
else bad "debug endpoint: $(head -c 300 <<<"$d" | tr '\n' ' ')"; fi
stop
clean_node
# kube-proxy 1.37's keywords combined: primary (the Node's 10.200.0.1) and localhost, in iptables mode.
run "$log" --proxy-mode iptables --iptables-backend nft --manifests "$work/manifests" --hostname-override node1 \
  --cluster-cidr 10.244.0.0/16 --nodeport-addresses primary,localhost
local_answers() { # all of 6 connections from the node to 127.0.0.1:30080 answered by a pod
  local out
  out=$(from node tcp 127.0.0.1 30080 6 --timeout-ms 1000)
  [ "$(( $(count pod-1 "$out") + $(count pod-2 "$out") + $(count pod-3 "$out") ))" = 6 ]
}
if until_ok 15 answers_on 10.200.0.1 30080 && none_on 10.200.0.9 30080 && local_answers && hc_is 10.200.0.1 32010 200 &&
   hc_is 127.0.0.1 32010 200 && hc_is 10.200.0.9 32010 000; then
  ok "--nodeport-addresses primary,localhost: NodePorts and health-check ports on 10.200.0.1 and 127.0.0.1, not on 10.200.0.9"
else bad "primary,localhost: 10.200.0.9 $(from client tcp 10.200.0.9 30080 2 --timeout-ms 500 | tr '\n' ' '); hc listeners $(listeners 32010)"; fi
stop
clean_node
# What upstream 1.37 serves, served: a digit-leading Service name (RelaxedServiceNameValidation)
# whose clusterIP has a leading zero (read as decimal), in nftables and iptables modes.
printf 'kind: Service\nmetadata: {name: 9web, namespace: t}\nspec:\n  clusterIP: 10.96.0.093\n  ports: [{name: http, port: 80, targetPort: 8080}]\n' >"$work/9web.yaml"
slice 9web 8080 TCP 1 2 3 >>"$work/9web.yaml"
write 9web.yaml <"$work/9web.yaml"
for mode in nftables iptables; do
  run "$log" --proxy-mode "$mode" --iptables-backend nft --manifests "$work/manifests" --hostname-override node1 --cluster-cidr 10.244.0.0/16
  if until_ok 15 answers_on 10.96.0.93 80; then ok "$mode: t/9web (digit-leading name) at clusterIP 10.96.0.093 answers on 10.96.0.93"
  else bad "$mode: t/9web: $(grep -m2 9web "$log")"; fi
  stop
  clean_node
done
rm -f "$work/manifests/9web.yaml"
# A deleted UDP Service's flows end (kubernetes PR 141371): a client sending from a fixed source
# port keeps refreshing its conntrack entry, which would DNAT to the old pod until it idles out.
udel_reaches_pod() { [ "$(count pod-1 "$(from client udp 10.96.0.95 53 1 --src-port 40095 --timeout-ms 300)")" = 1 ]; }
udel_gone() { ! udel_reaches_pod; }
for mode in nftables iptables; do
  printf 'kind: Service\nmetadata: {name: udel, namespace: t}\nspec:\n  clusterIP: 10.96.0.95\n  ports: [{name: dns, port: 53, protocol: UDP}]\n' >"$work/udel.yaml"
  slice udel 5353 UDP 1 >>"$work/udel.yaml"
  write udel.yaml <"$work/udel.yaml"
  run "$log" --proxy-mode "$mode" --iptables-backend nft --manifests "$work/manifests" --hostname-override node1 --cluster-cidr 10.244.0.0/16
  if until_ok 15 udel_reaches_pod; then
    # pod-1 terminates (still serving) and pod-2 takes new flows: the running flow stays with
    # pod-1, as upstream's reconciler keeps flows to serving endpoints.
    { printf 'kind: Service\nmetadata: {name: udel, namespace: t}\nspec:\n  clusterIP: 10.96.0.95\n  ports: [{name: dns, port: 53, protocol: UDP}]\n'
      printf -- '---\nkind: EndpointSlice\nmetadata: {name: udel-1, namespace: t, labels: {kubernetes.io/service-name: udel}}\naddressType: IPv4\n'
      printf 'endpoints:\n- {addresses: [10.244.1.2], conditions: {ready: false, serving: true, terminating: true}, nodeName: node1}\n'
      printf -- '- {addresses: [10.244.2.2], conditions: {ready: true}, nodeName: node1}\nports: [{name: dns, port: 5353, protocol: UDP}]\n'; } | write udel.yaml
    fresh_port=41000
    fresh_to_pod2() { # a new flow each try (an old one stays where it was pinned)
      fresh_port=$((fresh_port + 1))
      [ "$(count pod-2 "$(from client udp 10.96.0.95 53 1 --src-port "$fresh_port" --timeout-ms 300)")" = 1 ]
    }
    if until_ok 10 fresh_to_pod2 && udel_reaches_pod && udel_reaches_pod; then
      ok "$mode: a UDP flow to a serving, terminating endpoint survives the sync (new flows go to pod-2)"
    else bad "$mode: the flow to the terminating pod-1 was cut: $(from client udp 10.96.0.95 53 2 --src-port 40095 --timeout-ms 300 | tr '\n' ' ')"; fi
    # A sync waits out the min sync period (1 s) after the previous one, as upstream's: delete
    # once that has passed, so that what is measured is kproxy's reaction (the issue: within 1 s).
    sleep 1.1
    rm -f "$work/manifests/udel.yaml"
    t0=$(date +%s%N)
    until_ok 3 udel_gone || true
    took=$(( ($(date +%s%N) - t0) / 1000000 ))
    if [ "$took" -le 1000 ] && ! udel_reaches_pod; then
      ok "$mode: UDP Service t/udel deleted: the fixed-port client's flow to pod-1 ended after ${took} ms"
    else bad "$mode: the deleted UDP Service still reaches pod-1 from source port 40095: $(grep -m2 'conntrack' "$log" | tail -1)"; fi
  else bad "$mode: t/udel never answered"; fi
  stop
  clean_node
done
# trafficDistribution PreferSameNode (GA): EndpointSlice hints.forNodes pick this node's pod.
{ printf 'kind: Service\nmetadata: {name: psn, namespace: t}\nspec:\n  clusterIP: 10.96.0.96\n  trafficDistribution: PreferSameNode\n  ports: [{name: http, port: 80, targetPort: 8080}]\n'
  printf -- '---\nkind: EndpointSlice\nmetadata: {name: psn-1, namespace: t, labels: {kubernetes.io/service-name: psn}}\naddressType: IPv4\nendpoints:\n'
  printf -- '- {addresses: [10.244.1.2], nodeName: node1, hints: {forNodes: [{name: node1}]}}\n'
  printf -- '- {addresses: [10.244.2.2], nodeName: node2, hints: {forNodes: [{name: node2}]}}\n'
  printf -- '- {addresses: [10.244.3.2], nodeName: node3, hints: {forNodes: [{name: node3}]}}\nports: [{name: http, port: 8080}]\n'; } | write psn.yaml
for mode in nftables iptables; do
  run "$log" --proxy-mode "$mode" --iptables-backend nft --manifests "$work/manifests" --hostname-override node1 --cluster-cidr 10.244.0.0/16
  psn_local() { out=$(from client tcp 10.96.0.96 80 12 --timeout-ms 1000); [ "$(count pod-1 "$out")" = 12 ]; }
  if until_ok 15 psn_local; then ok "$mode: PreferSameNode: 12 of 12 connections to t/psn went to node1's pod-1"
  else bad "$mode: PreferSameNode: $(tr '\n' ' ' <<<"$out")"; fi
  stop
  clean_node
done
rm -f "$work/manifests/psn.yaml"
# loadBalancerSourceRanges holding only the node's primary IP: the node itself reaches the LB IP
# (upstream allows the node IP), the client does not.
{ printf 'kind: Service\nmetadata: {name: lbsr, namespace: t}\nspec:\n  type: LoadBalancer\n  clusterIP: 10.96.0.97\n  loadBalancerSourceRanges: [10.200.0.1/32]\n'
  printf '  ports: [{name: http, port: 80, targetPort: 8080, nodePort: 30097}]\nstatus:\n  loadBalancer:\n    ingress: [{ip: 10.50.0.7}]\n'
  slice lbsr 8080 TCP 1 2 3; } | write lbsr.yaml
for mode in nftables iptables; do
  run "$log" --proxy-mode "$mode" --iptables-backend nft --manifests "$work/manifests" --hostname-override node1 --cluster-cidr 10.244.0.0/16
  node_lb() { out=$(from node tcp 10.50.0.7 80 6 --timeout-ms 1000); [ "$(( $(count pod-1 "$out") + $(count pod-2 "$out") + $(count pod-3 "$out") ))" = 6 ]; }
  if until_ok 15 node_lb && none_on 10.50.0.7 80; then
    ok "$mode: loadBalancerSourceRanges [the node's IP]: the node reaches LB IP 10.50.0.7, the client does not"
  else bad "$mode: source ranges: node $(tr '\n' ' ' <<<"$out"), client $(from client tcp 10.50.0.7 80 2 --timeout-ms 500 | tr '\n' ' ')"; fi
  stop
  clean_node
done
rm -f "$work/manifests/lbsr.yaml"
rm -f "$work/manifests/lb4.yaml" "$work/manifests/lb6.yaml"
{ service web 10.96.0.80 '  type: NodePort' ', nodePort: 30080'; slice web 8080 TCP 1 2 3; } | write web.yaml

# 3. Installers' command lines, against the test API server (their kubeconfig paths and server
#    replaced by the test's; --hostname-override where the installer relies on the host name).
api_certs "$work"
api_start "$work"
api_kubeconfig "$work" "$work/kubeconfig"
{
  printf '{"kind":"List","apiVersion":"v1","items":['
  printf '{"apiVersion":"v1","kind":"Node","metadata":{"name":"node1","labels":{"kubernetes.io/hostname":"node1"}},"status":{"addresses":[{"type":"InternalIP","address":"10.200.0.1"}]}},'
  printf '{"apiVersion":"v1","kind":"Service","metadata":{"name":"web","namespace":"t"},"spec":{"clusterIP":"10.96.0.80","clusterIPs":["10.96.0.80"],"type":"ClusterIP","ports":[{"name":"http","port":80,"protocol":"TCP","targetPort":8080}]}},'
  printf '{"apiVersion":"discovery.k8s.io/v1","kind":"EndpointSlice","addressType":"IPv4","metadata":{"name":"web-a","namespace":"t","labels":{"kubernetes.io/service-name":"web"}},"endpoints":[{"addresses":["10.244.1.2"],"conditions":{"ready":true}},{"addresses":["10.244.2.2"],"conditions":{"ready":true}}],"ports":[{"name":"http","port":8080,"protocol":"TCP"}]},'
  # A LoadBalancer whose health-check node port another process holds (FailedToStartServiceHealthcheck).
  printf '{"apiVersion":"v1","kind":"Service","metadata":{"name":"lbhc","namespace":"t"},"spec":{"clusterIP":"10.96.0.89","clusterIPs":["10.96.0.89"],"type":"LoadBalancer","externalTrafficPolicy":"Local","healthCheckNodePort":32009,"ports":[{"name":"http","port":80,"protocol":"TCP","targetPort":8080,"nodePort":30089}]}},'
  printf '{"apiVersion":"discovery.k8s.io/v1","kind":"EndpointSlice","addressType":"IPv4","metadata":{"name":"lbhc-a","namespace":"t","labels":{"kubernetes.io/service-name":"lbhc"}},"endpoints":[{"addresses":["10.244.1.2"],"nodeName":"node1","conditions":{"ready":true}}],"ports":[{"name":"http","port":8080,"protocol":"TCP"}]}'
  printf ']}\n'
} | api_apply >/dev/null
# Started without a wrapping function or subshell, so that its PID is the process's own (cleanup
# kills it), with no stdout of the test's to hold open (ctest would wait for it).
ip netns exec "$(topo_ns node)" python3 -c 'import socket, time; s = socket.socket(); s.bind(("0.0.0.0", 32009)); s.listen(); time.sleep(240)' \
  </dev/null >/dev/null 2>&1 &
TOPO_PIDS+=($!)
squatting() { [ -n "$(in_node ss -Hltn 'sport = :32009')" ]; }
until_ok 5 squatting || bad "the process meant to hold port 32009 is not listening"
master="https://127.0.0.1:$API_PORT"
# EKS' kube-proxy-config ConfigMap (shared with flags_test.cpp), its kubeconfig path replaced.
sed "s|kubeconfig: /var/lib/kube-proxy/kubeconfig|kubeconfig: $work/kubeconfig|; s|^clusterCIDR: \"\"|clusterCIDR: \"10.244.0.0/16\"|" \
  "$here/fixtures/eks-kube-proxy-config.yaml" >"$work/eks-config"
# deploy/kproxy.yaml: the DaemonSet's command and its ConfigMap's config.conf.
ds_args=$(awk '/^      containers:/ {c = 1} c && /^        command:/ {k = 1; next} k && /^        - / {print $2; next} k {exit}' \
  "$here/../../deploy/kproxy.yaml")
awk '/^  config.conf: \|/ {k = 1; next} k && /^    / {print substr($0, 5); next} k {exit}' "$here/../../deploy/kproxy.yaml" |
  sed "s|^kind: KubeProxyConfiguration|kind: KubeProxyConfiguration\nclusterCIDR: 10.244.0.0/16|; s|^  kubeconfig: \"\"|  kubeconfig: $work/kubeconfig|" \
  >"$work/ds-config.conf"
mapfile -t ds < <(sed -n '2,$p' <<<"$ds_args" | sed "s|\$(NODE_NAME)|node1|; s|/var/lib/kproxy/config.conf|$work/ds-config.conf|")
declare -A lines=(
  [gke]="--master=$master --kubeconfig=$work/kubeconfig --cluster-cidr=10.244.0.0/16 --oom-score-adj=-998 --v=2 --iptables-sync-period=1m --iptables-min-sync-period=10s --ipvs-sync-period=1m --ipvs-min-sync-period=10s --feature-gates=AllowServiceExternalIPs=true --hostname-override=node1"
  [kops]="--cluster-cidr=10.244.0.0/16 --conntrack-max-per-core=131072 --hostname-override=node1 --kubeconfig=$work/kubeconfig --master=$master --oom-score-adj=-998 --v=2"
  [eks]="--v=2 --config=$work/eks-config --hostname-override=node1"
  [daemonset]="${ds[*]}"
)
for who in gke kops eks daemonset; do
  : >"$work/$who.log"
  # shellcheck disable=SC2086
  run "$work/$who.log" ${lines[$who]}
  if until_ok 20 nat_has 't/web:http cluster IP' && answers_on 10.96.0.80 80 && ! grep -q 'unknown flag' "$work/$who.log"; then
    ok "$who's command line: kproxy starts, lists from the API server, programs and serves t/web"
  else bad "$who (${lines[$who]}): $(grep -E '^[EW]|kproxy:' "$work/$who.log" | tail -3)"; fi
  if [ "$who" = gke ]; then
    # client-go's request metrics for the API traffic: lists and watches (GET 200), the Events (POST 201).
    rest_metrics() {
      m=$(in_node curl -s -m 2 http://127.0.0.1:10249/metrics)
      gets=$(awk -v l="rest_client_requests_total{code=\"200\",host=\"127.0.0.1:$API_PORT\",method=\"GET\"}" '$1 == l {print $2}' <<<"$m")
      grep -q "^rest_client_requests_total{code=\"201\",host=\"127.0.0.1:$API_PORT\",method=\"POST\"} " <<<"$m"
    }
    until_ok 5 rest_metrics || true
    if [ "${gets:-0}" -ge 3 ] && grep -q "^rest_client_requests_total{code=\"201\",host=\"127.0.0.1:$API_PORT\",method=\"POST\"} " <<<"$m" &&
       grep -q "^rest_client_request_duration_seconds_bucket{host=\"127.0.0.1:$API_PORT\",verb=\"GET\",le=\"60\"} " <<<"$m" &&
       grep -q '^# TYPE rest_client_request_duration_seconds histogram' <<<"$m"; then
      ok "rest_client_requests_total: $gets GETs answered 200 (lists, watches), the Starting Event's POST 201; rest_client_request_duration_seconds{host,verb}"
    else bad "rest client metrics: $(grep '^rest_client' <<<"$m" | head -5 | tr '\n' ' ')"; fi
  fi
  stop
  clean_node
done
grep -q 'udpIdleTimeout: unknown field, ignored' "$work/eks.log" && ok "EKS' old field udpIdleTimeout: warned, ignored" ||
  bad "no warning for udpIdleTimeout"
# Events, as upstream records them, received by the API server: Starting on the Node (one per
# start above), FailedToStartServiceHealthcheck on t/lbhc, reporting controller kube-proxy.
events=$(ip netns exec "$(topo_ns node)" curl -sS -m 5 "http://127.0.0.1:$API_CONTROL/events")
starting=$(python3 -c 'import json, sys; e = json.loads(sys.argv[1]); print(sum(1 for x in e if x["reason"] == "Starting" and x["regarding"]["kind"] == "Node" and x["regarding"]["name"] == "node1" and x["reportingController"] == "kube-proxy" and x["metadata"]["namespace"] == "default"))' "$events")
hc=$(python3 -c 'import json, sys; e = json.loads(sys.argv[1]); print(sum(1 for x in e if x["reason"] == "FailedToStartServiceHealthcheck" and x["type"] == "Warning" and x["regarding"]["name"] == "lbhc" and x["metadata"]["namespace"] == "t" and "32009" in x["note"]))' "$events")
if [ "$starting" -ge 4 ] && [ "$hc" -ge 1 ]; then
  ok "Events: Starting on Node node1 ($starting, one per start), FailedToStartServiceHealthcheck on t/lbhc ($hc)"
else bad "events: Starting $starting, FailedToStartServiceHealthcheck $hc; port 32009: $(in_node ss -ltnp 'sport = :32009' | tail -n +2); $(grep -h 'health check node port\|32009' "$work"/gke.log | head -3)"; fi

# 3b. ServiceCIDRs (networking.k8s.io/v1) watched in nftables mode: an address of a range that no
#     Service holds is dropped (upstream's "Drop traffic to unallocated ClusterIPs"), from a client
#     and from the node; allocated ClusterIPs still answer; ranges added and removed at run time
#     follow. Whether a SYN left the node: a dropped one never confirms its conntrack entry (the
#     topology routes unknown addresses back to the client, so without the rule SYNs go out).
left_node() { # FROM IP: a SYN to IP:80 from the client or the node got out of the node
  in_node conntrack -D -d "$2" >/dev/null 2>&1 || true
  from "$1" tcp "$2" 80 1 --timeout-ms 300 >/dev/null
  [ -n "$(in_node conntrack -L -d "$2" 2>/dev/null)" ]
}
in_node "$build/kproxy" cleanup >/dev/null 2>&1 || true
: >"$work/cidr.log"
run "$work/cidr.log" --proxy-mode nftables --kubeconfig "$work/kubeconfig" --hostname-override node1 \
  --cluster-cidr 10.244.0.0/16 --v 2
until_ok 20 nft_has 'ip daddr @cluster-ips reject' || bad "nftables run never programmed: $(tail -3 "$work/cidr.log")"
left_node client 10.96.0.77 && left_node node 10.96.0.77 && before=out || before=dropped
printf '{"apiVersion":"networking.k8s.io/v1","kind":"ServiceCIDR","metadata":{"name":"kubernetes"},"spec":{"cidrs":["10.96.0.0/16","fd00:10:96::/112"]}}' |
  api_apply >/dev/null
if until_ok 10 nft_has 'ip daddr 10.96.0.0/16 drop comment "Drop traffic to unallocated ClusterIPs"' &&
   [ "$before" = out ] && ! left_node client 10.96.0.77 && ! left_node node 10.96.0.77 && left_node client 10.98.0.77 &&
   answers_on 10.96.0.80 80 && [ "$(from client tcp 10.96.0.80 81 1 --timeout-ms 700 | awk 'NR == 1 {print $1}')" = refused ]; then
  ok "ServiceCIDR 10.96.0.0/16 watched: unallocated 10.96.0.77 dropped from client and node (went out before), 10.98.0.77 not; 10.96.0.80:80 served, :81 rejected"
else bad "ServiceCIDR drop: before $before; $(in_node nft list chain ip kube-proxy cluster-ips-check 2>&1 | tr '\n' ' ')"; fi
if in_node nft list chain ip6 kube-proxy cluster-ips-check 2>/dev/null | grep -q 'ip6 daddr fd00:10:96::/112 drop'; then
  ok "the IPv6 range of the same ServiceCIDR is dropped in table ip6 kube-proxy"
else bad "no IPv6 ServiceCIDR rule: $(in_node nft list chain ip6 kube-proxy cluster-ips-check 2>&1 | tr '\n' ' ')"; fi
printf '{"apiVersion":"networking.k8s.io/v1","kind":"ServiceCIDR","metadata":{"name":"extra"},"spec":{"cidrs":["10.97.0.0/24"]}}' |
  api_apply >/dev/null
until_ok 10 nft_has 'ip daddr 10.97.0.0/24 drop' && added=yes || added=no
in_node curl -sS -m 5 -X POST "http://127.0.0.1:$API_CONTROL/delete?kind=ServiceCIDR&name=kubernetes" >/dev/null
gone() { ! nft_has 'ip daddr 10.96.0.0/16 drop'; }
if [ "$added" = yes ] && until_ok 10 gone && nft_has 'ip daddr 10.97.0.0/24 drop' && left_node client 10.96.0.77 &&
   ! left_node client 10.97.0.7; then
  ok "ServiceCIDRs follow the watch: 10.97.0.0/24 added (dropped), 10.96.0.0/16 deleted (its addresses go out again)"
else bad "ServiceCIDR changes: added $added; $(in_node nft list chain ip kube-proxy cluster-ips-check 2>&1 | tr '\n' ' ')"; fi
in_node curl -sS -m 5 -X POST "http://127.0.0.1:$API_CONTROL/delete?kind=ServiceCIDR&name=extra" >/dev/null
stop
clean_node

# 4. The config file is a ConfigMap mount (..data symlink swapped on update): the same content
#    again changes nothing; new content ends the process, rules left in place.
cfg="$work/cm"
mkdir -p "$cfg/..v1"
printf 'apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\nclusterCIDR: 10.244.0.0/16\nclientConnection: {kubeconfig: %s}\n' \
  "$work/kubeconfig" >"$cfg/..v1/config.conf"
ln -s ..v1 "$cfg/..data"
ln -s ..data/config.conf "$cfg/config.conf"
: >"$work/cm.log"
run "$work/cm.log" --config "$cfg/config.conf" --hostname-override node1 --iptables-backend nft
until_ok 20 nat_has 't/web:http cluster IP' || bad "ConfigMap run never programmed: $(tail -3 "$work/cm.log")"
mkdir -p "$cfg/..v2"
cp "$cfg/..v1/config.conf" "$cfg/..v2/config.conf"
ln -s ..v2 "$cfg/..data.tmp" && mv -T "$cfg/..data.tmp" "$cfg/..data"
sleep 1.5
kill -0 "$KPROXY_PID" 2>/dev/null && ok "a ConfigMap update with the same content: still running" ||
  bad "exited on an unchanged config: $(tail -2 "$work/cm.log")"
mkdir -p "$cfg/..v3"
sed 's/clusterCIDR: 10.244.0.0\/16/clusterCIDR: 10.244.0.0\/15/' "$cfg/..v1/config.conf" >"$cfg/..v3/config.conf"
ln -s ..v3 "$cfg/..data.tmp" && mv -T "$cfg/..data.tmp" "$cfg/..data"
set +e
for _ in $(seq 50); do kill -0 "$KPROXY_PID" 2>/dev/null || break; sleep 0.1; done
wait "$KPROXY_PID"
rc=$?
set -e
if [ "$rc" = 1 ] && grep -q 'configuration file .* changed; exiting' "$work/cm.log" && nat_has 't/web:http cluster IP'; then
  ok "a ConfigMap update with new content: exit 1 within 5 s (the DaemonSet restarts it), rules kept"
else bad "after the config changed: exit $rc, $(tail -2 "$work/cm.log")"; fi

# Every kproxy this test started was stopped by its PID (none left running in the namespace).
kproxy_exe=$(readlink -f "$build/kproxy")
left=0
for p in $(ip netns pids "$(topo_ns node)" 2>/dev/null); do
  if [ "$(readlink -f "/proc/$p/exe" 2>/dev/null || true)" = "$kproxy_exe" ]; then left=$((left + 1)); fi
done
[ "$left" = 0 ] && ok "no kproxy left running in the node namespace" || bad "$left kproxy processes still running"

live_finish
