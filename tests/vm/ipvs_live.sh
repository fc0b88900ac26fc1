#!/usr/bin/env bash
# kproxy in IPVS mode against a real IPVS (run in the VM guest by run_vm.sh): the scenarios
# every mode runs (live_lib.sh), then IPVS-specific ones: exact round robin, what the kernel
# holds (virtual servers, kube-ipvs0, ipsets, helper rules), graceful termination, a foreign
# virtual server left alone, switching from iptables mode and back, cleanup.
# Usage: ipvs_live.sh BUILD_DIR. IP plan and Services: topology.sh and live_lib.sh; the foreign
# virtual server is 10.50.0.1:80.
set -euo pipefail
here=$(dirname "$(readlink -f "$0")")
build=${1:?usage: $0 BUILD_DIR}
command -v ipvsadm >/dev/null || { echo "SKIP: ipvsadm missing"; exit 77; }
TOPO_PREFIX="kproxy-test-ipvs-$$"
. "$here/../integration/topology.sh"
work=$(mktemp -d)
trap 'topo_cleanup; rm -rf "$work"' EXIT
trap 'exit 130' INT TERM

LIVE_TAG=ipvs
DNS_MOVED_PATTERN='10.244.2.2:5353'
log="$work/kproxy.log"
. "$here/../integration/live_lib.sh"
in_node() { ip netns exec "$(topo_ns node)" "$@"; }
ipvs() { in_node ipvsadm -Ln 2>/dev/null || true; }
wait_rules() { topo_wait_output "$1" "$2" ipvs; }
# dests VIP:PORT: the destination lines of one virtual server ("-> ip:port Masq weight active inactive").
dests() { ipvs | awk -v vs="$1" '$1 ~ /^(TCP|UDP|SCTP)$/ {cur = $2} $1 == "->" && cur == vs {print $2, $3, $4, $5, $6}'; }
# The DNS move is done when pod-2 is t/dns's only destination: the deletion of pod-1 (and the
# conntrack flush after it) follows the addition, and TCG can put seconds between them.
dns_dests() { dests 10.96.0.10:53 | awk '{printf "%s%s", s, $1; s = ","} END {print ""}'; }
dns_moved_wait() { topo_wait_output '^10.244.2.2:5353$' 10 dns_dests; }
# web's change is in when pod-2 and pod-3 take no new connections: gone, or draining at weight 0.
web_weighted() { dests 10.96.0.80:80 | awk '$3 != 0 {printf "%s%s", s, $1; s = ","} END {print ""}'; }
web_moved_wait() { topo_wait_output '^10.244.1.2:8080$' 10 web_weighted; }

topo_up "$build/kproxy-testserver"
live_manifests
# eTP Local NodePorts, LoadBalancer IP, externalIP are in live_manifests (lb, lbremote).
start() { topo_start_kproxy "$build/kproxy" "$work/manifests" "$log" --proxy-mode ipvs \
  --ipvs-sync-period 2s --ipvs-min-sync-period 50ms --ipvs-strict-arp --ipvs-tcp-timeout 900s --ipvs-udp-timeout 30s "$@"; }
# A virtual server kproxy does not own, there before it starts.
in_node ipvsadm -A -t 10.50.0.1:80 -s wrr
start
wait_rules '10.96.0.83:80' 20 || { cat "$log"; bad "kproxy never programmed IPVS"; exit 1; }

# The kernel's view: virtual servers with masquerading destinations, Service IPs on kube-ipvs0
# (down), upstream's ipsets and helper rules.
v=$(ipvs)
if grep -q '^TCP  10.96.0.80:80 rr' <<<"$v" && [ "$(dests 10.96.0.80:80 | grep -c 'Masq 1')" = 3 ] &&
   grep -q '^TCP  10.200.0.1:30080 rr' <<<"$v" && grep -q '^UDP  10.96.0.10:53 rr' <<<"$v" &&
   grep -q '^TCP  10.96.0.81:80 rr persistent 10800' <<<"$v" && grep -q '^TCP  10.96.0.82:80 rr' <<<"$v"; then
  ok "ipvsadm -Ln: ClusterIPs, NodePort on the node IP, UDP, affinity as persistence, 3 masq destinations"
else bad "unexpected IPVS table: $v"; fi
t=$(in_node ipvsadm -L --timeout 2>&1 || true)
if grep -q 'Timeout (tcp tcpfin udp): 900 120 30' <<<"$t" && [ "$(in_node cat /proc/sys/net/ipv4/conf/all/arp_ignore)" = 1 ] &&
   [ "$(in_node cat /proc/sys/net/ipv4/conf/all/arp_announce)" = 2 ] && [ "$(in_node cat /proc/sys/net/ipv4/vs/conntrack)" = 1 ]; then
  ok "IPVS timeouts (900 120 30), strict ARP and vs/conntrack set"
else bad "timeouts/sysctls: $t arp_ignore=$(in_node cat /proc/sys/net/ipv4/conf/all/arp_ignore)"; fi
addrs=$(in_node ip -4 addr show dev kube-ipvs0 2>/dev/null || true)
if grep -q 'inet 10.96.0.80/32' <<<"$addrs" && grep -q 'inet 10.96.0.10/32' <<<"$addrs" && ! grep -q 'UP' <<<"$(in_node ip link show kube-ipvs0)"; then
  ok "kube-ipvs0 holds the ClusterIPs as /32 and stays down"
else bad "kube-ipvs0: $addrs"; fi
sets=$(in_node ipset save 2>/dev/null || true)
if grep -q '^add KUBE-CLUSTER-IP 10.96.0.80,tcp:80$' <<<"$sets" && grep -q '^add KUBE-NODE-PORT-TCP 30080$' <<<"$sets" &&
   grep -q '^add KUBE-LOOP-BACK 10.244.1.2,tcp:8080,10.244.1.2$' <<<"$sets" && grep -q '^add KUBE-NODE-PORT-LOCAL-TCP 30086$' <<<"$sets" &&
   grep -q '^add KUBE-HEALTH-CHECK-NODE-PORT 32001$' <<<"$sets" && grep -q '^add KUBE-IPVS-IPS 10.96.0.80$' <<<"$sets"; then
  ok "ipsets: cluster IPs, NodePorts (and Local ones), hairpin, health check ports, IPVS IPs"
else bad "ipsets: $(grep -c '^add' <<<"$sets") members: $(head -c 600 <<<"$sets")"; fi
# IPv6 is its own backend and sync: wait for it.
wait_rules 'fd00:96::85' 10 || true
v6=$(ipvs)
if grep -q '^TCP  \[fd00:96::85\]:80 rr' <<<"$v6" && [ "$(dests '[fd00:96::85]:80')" = '[fd00:244:1::2]:8080 Masq 1 0 0' ] &&
   grep -q 'inet6 fd00:96::85/128' <<<"$(in_node ip -6 addr show dev kube-ipvs0)" &&
   grep -q '^add KUBE-6-CLUSTER-IP fd00:96::85,tcp:80$' <<<"$(in_node ipset save)"; then
  ok "dual stack: the IPv6 ClusterIP as a virtual server, on kube-ipvs0 as /128 and in KUBE-6-CLUSTER-IP"
else bad "IPv6: $(grep -A1 fd00 <<<"$v6") $(in_node ipset save | grep '^add KUBE-6')"; fi
nat=$(in_node iptables-save -t nat 2>/dev/null || true)
if grep -q -- '-A KUBE-SERVICES ! -s 10.244.0.0/16 -m comment --comment "Kubernetes service cluster ip + port for masquerade purpose" -m set --match-set KUBE-CLUSTER-IP dst,dst -j KUBE-MARK-MASQ' <<<"$nat" &&
   grep -q -- '-A KUBE-POSTROUTING .*--match-set KUBE-LOOP-BACK dst,dst,src -j MASQUERADE' <<<"$nat" &&
   grep -q -- '-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES' <<<"$nat" &&
   ! grep -q 'KUBE-SVC-' <<<"$nat"; then
  ok "helper iptables rules as upstream IPVS mode, no per-service chains"
else bad "nat rules: $(grep KUBE <<<"$nat" | head -20)"; fi

# kproxy render --proxy-mode ipvs, run as a script in a fresh namespace, programs what the daemon
# did (IPv4: virtual servers with destinations, set members, kube-ipvs0 addresses, helper rules).
rns=kproxy-vm-render-$$
ip netns add "$rns"
nodeips=$(in_node ip -4 -o addr show | awk '$2 != "lo" && $2 != "kube-ipvs0" {sub("/.*", "", $4); print $4}' | paste -sd,)
"$build/kproxy" render --manifests "$work/manifests" --node node1 --cluster-cidr 10.244.0.0/16 --node-ip "$nodeips" \
  --proxy-mode ipvs >"$work/render.sh" 2>"$work/render.err" || true
ip netns exec "$rns" sh "$work/render.sh" >"$work/render.out" 2>&1 || true
state() {  # NS: what an IPVS-mode node holds, comparable across namespaces
  ip netns exec "$1" ipvsadm -Sn | grep -v -e '10.50.0.1' -e '\[' | sort
  ip netns exec "$1" ipset save | grep '^add KUBE-[^6]' | sort
  ip netns exec "$1" ip -4 -o addr show dev kube-ipvs0 | awk '{print $4}' | sort
  ip netns exec "$1" iptables-save | grep -- '^-A' | sort
}
if [ -s "$work/render.sh" ] && [ "$(state "$(topo_ns node)")" = "$(state "$rns")" ] && [ "$(state "$rns" | wc -l)" -gt 50 ]; then
  ok "kproxy render --proxy-mode ipvs, run in a fresh namespace, programs what the daemon did ($(state "$rns" | wc -l) lines)"
else bad "render script differs: $(diff <(state "$(topo_ns node)") <(state "$rns") | head -20) $(head -5 "$work/render.err" "$work/render.out")"; fi
ip netns del "$rns"

# IPVS round robin is exact: 300 new connections, 100 to each endpoint.
out=$(from client tcp 10.96.0.80 80 300)
if [ "$(count pod-1 "$out")" = 100 ] && [ "$(count pod-2 "$out")" = 100 ] && [ "$(count pod-3 "$out")" = 100 ]; then
  ok "round robin: exactly 100/100/100 of 300"
else bad "round robin: $(tr '\n' ' ' <<<"$out")"; fi

live_health_check_node_ports

out=$(from client tcp 10.200.0.1 30086 60)
if [ "$(count pod-3 "$out")" = 0 ] && [ "$(( $(count pod-1 "$out") + $(count pod-2 "$out") ))" = 60 ]; then
  ok "eTP Local NodePort: only local endpoints answer ($(tr '\n' ' ' <<<"$out"))"
else bad "eTP Local NodePort 30086: $(tr '\n' ' ' <<<"$out")"; fi

# A port the Service does not have, on a Service IP: rejected by KUBE-IPVS-FILTER, not answered
# by whatever listens on the node.
out=$(from client tcp 10.96.0.80 22 1 --timeout-ms 1500)
[ "$(count refused "$out")" = 1 ] && ok "other ports on a Service IP are refused (KUBE-IPVS-FILTER)" || bad "10.96.0.80:22: $out"

# loadBalancerSourceRanges: t/lbsr's [10.200.0.2/32] leaves every node address out, t/lbnode's
# [10.0.0.0/8] holds them. IPVS takes the node's own connections in OUTPUT, before the INPUT
# firewall: KUBE-IPVS-OUT-FILTER drops them for lbsr only (upstream issue 119656).
lbsvc() { # NAME CLUSTERIP RANGE LBIP NODEPORT
  printf 'kind: Service\nmetadata: {name: %s, namespace: t}\nspec:\n  type: LoadBalancer\n  clusterIP: %s\n  loadBalancerSourceRanges: [%s]\n' "$1" "$2" "$3"
  printf '  ports: [{name: http, port: 80, targetPort: 8080, nodePort: %s}]\nstatus:\n  loadBalancer:\n    ingress: [{ip: %s}]\n' "$5" "$4"
  slice "$1" 8080 TCP 1 2 3
}
{ lbsvc lbsr 10.96.0.91 10.200.0.2/32 10.50.0.7 30091; echo ---; lbsvc lbnode 10.96.0.92 10.0.0.0/8 10.50.0.8 30092; } | write lbsr.yaml
wait_rules '10.50.0.8:80' 15 || true
answered() { # NS IP: of 3 connections, how many a pod answered
  local o
  o=$(from "$1" tcp "$2" 80 3 --timeout-ms 700)
  echo $(( $(count pod-1 "$o") + $(count pod-2 "$o") + $(count pod-3 "$o") ))
}
filter=$(in_node iptables-save -t filter 2>/dev/null || true)
if grep -q -- '-A KUBE-IPVS-OUT-FILTER -s 10.50.0.7/32 -m ipvs --vproto 6 --vaddr 10.50.0.7 --vport 80 -j DROP' <<<"$filter" &&
   ! grep -q -- '-A KUBE-IPVS-OUT-FILTER.*10.50.0.8' <<<"$filter" &&
   [ "$(answered client 10.50.0.7)" = 3 ] && [ "$(answered node 10.50.0.7)" = 0 ] && [ "$(answered node 10.50.0.8)" = 3 ]; then
  ok "loadBalancerSourceRanges without the node: KUBE-IPVS-OUT-FILTER drops the node's connections to 10.50.0.7 (client served); 10.50.0.8 (node in range) served"
else bad "OUT-FILTER: client->.7 $(answered client 10.50.0.7)/3, node->.7 $(answered node 10.50.0.7)/3, node->.8 $(answered node 10.50.0.8)/3; $(grep -- 'IPVS-OUT' <<<"$filter" | tr '\n' ' ')"; fi
# The rule is what stops them: flushed by hand, the node gets through (until a full sync).
in_node iptables -F KUBE-IPVS-OUT-FILTER
[ "$(answered node 10.50.0.7)" = 3 ] && ok "with KUBE-IPVS-OUT-FILTER flushed by hand the node reaches 10.50.0.7: the rule is what drops it" ||
  bad "node->.7 still dropped with KUBE-IPVS-OUT-FILTER empty"
rm -f "$work/manifests/lbsr.yaml"

# Any scheduler the kernel has, as upstream; one it lacks stops kproxy before it changes anything.
sns=kproxy-vm-sched-$$
ip netns add "$sns"
set +e
serr=$(ip netns exec "$sns" "$build/kproxy" --proxy-mode ipvs --ipvs-scheduler nosuch --manifests "$work/manifests" \
  --hostname-override node1 2>&1 >/dev/null)
src=$?
set -e
if [ "$src" = 1 ] && grep -q 'the kernel has no IPVS scheduler "nosuch" (load its module, ip_vs_nosuch' <<<"$serr" &&
   [ -z "$(ip netns exec "$sns" ipvsadm -Sn)" ]; then
  ok "--ipvs-scheduler nosuch: exit 1 naming the scheduler, nothing left in IPVS"
else bad "scheduler probe: exit $src: $serr"; fi
ip netns del "$sns"

live_common_scenarios

# Graceful termination, on a Service no earlier scenario used: IPVS counts a closed connection
# (TIME_WAIT) as inactive for two minutes, and upstream, like kproxy, deletes a draining
# destination only when it has no connections at all. Hold one connection, remove its endpoint.
{ service drain 10.96.0.88; slice drain 8080 TCP 1 2 3; } | write drain.yaml
dests88() { dests 10.96.0.88:80; }
deadline=$((SECONDS + 10))
while [ $SECONDS -lt $deadline ] && [ "$(dests88 | wc -l)" != 3 ]; do sleep 0.1; done
ip netns exec "$(topo_ns client)" "$build/kproxy-testclient" hold 10.96.0.88 80 6 --rst >"$work/hold" 2>&1 &
holder=$!
sleep 1
held=$(dests88 | awk '$4 == 1 {print $1}' | head -1)   # the destination with the active connection
pod=${held%%:*}; pod=${pod#10.244.}; pod=${pod%%.*}
keep=$(for p in 1 2 3; do [ "$p" = "$pod" ] || echo -n "$p "; done)
# shellcheck disable=SC2086
{ service drain 10.96.0.88; slice drain 8080 TCP $keep; } | write drain.yaml
sleep 1
d=$(dests88)
out=$(from client tcp 10.96.0.88 80 60)
if [ -n "$held" ] && grep -q "^$held Masq 0 1" <<<"$d" && [ "$(count "pod-$pod" "$out")" = 0 ] && [ "$(grep -c '^pod-' <<<"$out")" = 2 ]; then
  ok "removed endpoint drains: $held at weight 0 with its open connection, new connections avoid it"
else bad "draining: held '$held', dests '$d', new '$(tr '\n' ' ' <<<"$out")'"; fi
wait "$holder" || true
grep -q "^held .* pod-$pod" "$work/hold" && ok "the open connection kept working while its endpoint drained ($(cat "$work/hold"))" ||
  bad "connection to the draining endpoint broke: $(cat "$work/hold") (pod-$pod)"
# Closed with a reset: IPVS keeps the entry in CLOSE for 10 s, then the destination goes at
# the next sync.
deadline=$((SECONDS + 25))
while [ $SECONDS -lt $deadline ] && grep -q "^$held " <<<"$(dests88)"; do sleep 0.2; done
if [ -n "$held" ] && ! grep -q "^$held " <<<"$(dests88)" && [ "$(dests88 | wc -l)" = 2 ]; then
  ok "the drained destination was deleted once its connection closed"
else bad "drained destination still there: $(dests88 | tr '\n' ' ')"; fi

# Removing a Service removes its virtual server, address and set members; the foreign virtual
# server survived every sync so far.
rm "$work/manifests/self.yaml"
deadline=$((SECONDS + 10))
while [ $SECONDS -lt $deadline ] && grep -q '10.96.0.83:80' <<<"$(ipvs)"; do sleep 0.1; done
if ! grep -q '10.96.0.83:80' <<<"$(ipvs)" && ! grep -q '10.96.0.83/' <<<"$(in_node ip addr show dev kube-ipvs0)" &&
   ! grep -q '10.96.0.83' <<<"$(in_node ipset save)"; then
  ok "a deleted Service leaves no virtual server, address or set member"
else bad "deleted Service left: $(ipvs | grep 10.96.0.83) $(in_node ipset save | grep 10.96.0.83)"; fi
grep -q '^TCP  10.50.0.1:80 wrr' <<<"$(ipvs)" && ok "the foreign virtual server survived every sync" || bad "foreign virtual server gone"

# kproxy trace in IPVS mode: each verdict against what a real connection (--probe) finds. No
# periodic resync meanwhile, so what is changed by hand stays changed.
topo_stop_kproxy
{ service tr 10.96.0.89; slice tr 8080 TCP 1 2 3; } | write tr.yaml
start --ipvs-sync-period 1h --ipvs-min-sync-period 0
wait_rules '10.96.0.89:80' 15 || true
trace() {
  set +e
  out=$(in_node "$build/kproxy" trace "$1" --manifests "$work/manifests" --hostname-override node1 \
    --cluster-cidr 10.244.0.0/16 --proxy-mode ipvs --kernel --probe --timeout 1500 2>&1)
  rc=$?
  set -e
}
expect() { # LABEL VERDICT-REGEX RC PROBE(answered|failed) [OUTPUT-REGEX]
  local good=1
  grep -Eq -- "$2" <<<"$(head -1 <<<"$out")" || good=0
  [ "$rc" = "$3" ] || good=0
  case $4 in answered) grep -q '^probe: *answered by 10.244' <<<"$out" || good=0 ;; failed) grep -q '^probe: *no answer' <<<"$out" || good=0 ;; esac
  [ -z "${5:-}" ] || grep -Eq -- "$5" <<<"$out" || good=0
  if [ $good = 1 ]; then ok "trace $1: $(head -1 <<<"$out")"; else bad "trace $1 (exit $rc): $out"; fi
}
trace 10.96.0.89:80
expect "reachable" '^reachable: 3 endpoints \(3 ready\)$' 0 answered 'note: virtual server TCP 10.96.0.89:80 rr'
[ "$(grep -c '^ *33.3%  DNAT 10.244.[123].2:8080  (weight 1' <<<"$out")" = 3 ] && grep -q 'kube-ipvs0 holds 10.96.0.89' <<<"$out" &&
  grep -q 'ipsets: KUBE-CLUSTER-IP 10.96.0.89,tcp:80' <<<"$out" && ok "trace: three destinations, a third each, kube-ipvs0 and ipsets" ||
  bad "trace kernel view: $out"
trace 10.96.0.82:80
expect "no endpoints" '^unreachable: t/empty:http has no endpoints$' 1 failed '100.0%  REJECT'
in_node ipvsadm -d -t 10.96.0.89:80 -r 10.244.3.2:8080
trace 10.96.0.89:80
expect "drift" '^drift: kernel differs from the desired state in 1 entry$' 1 answered '- destination 10.244.3.2:8080 \(desired\) not in the kernel'
in_node ipvsadm -D -t 10.96.0.89:80
trace 10.96.0.89:80
expect "missing" '^unreachable: rules for 10.96.0.89:80/TCP missing in the kernel: last successful sync [0-9]+s ago$' 1 failed

# Mode switches: iptables mode removes IPVS mode's objects (ours only), IPVS mode removes
# iptables mode's chains; traffic works in each.
topo_stop_kproxy
topo_start_kproxy "$build/kproxy" "$work/manifests" "$log" --proxy-mode iptables --iptables-min-sync-period 50ms
deadline=$((SECONDS + 15))
while [ $SECONDS -lt $deadline ] && ! grep -q KUBE-SVC <<<"$(in_node iptables-save -t nat 2>/dev/null)"; do sleep 0.1; done
v=$(ipvs)
ipt_why=""
[ "$(count pod-1 "$(from client tcp 10.96.0.80 80 6)")" -ge 1 ] || ipt_why+=" no traffic;"
! grep -q '10.96.0.80' <<<"$v" || ipt_why+=" IPVS virtual server left;"
grep -q '10.50.0.1:80' <<<"$v" || ipt_why+=" foreign virtual server gone;"
! in_node ip link show kube-ipvs0 >/dev/null 2>&1 || ipt_why+=" kube-ipvs0 left;"
[ -z "$(in_node ipset list -n | grep '^KUBE-')" ] || ipt_why+=" ipsets left: $(in_node ipset list -n | grep -c '^KUBE-');"
topo_stop_kproxy
start
wait_rules '10.96.0.80:80' 15 || true
sleep 0.5
left=$(in_node iptables-save 2>/dev/null | grep -c -- '-A KUBE-SVC-\|-A KUBE-SEP-\|KUBE-NODEPORTS\|KUBE-EXTERNAL-SERVICES' || true)
if [ -z "$ipt_why" ] && [ "$left" = 0 ] && [ "$(count pod-1 "$(from client tcp 10.96.0.80 80 6)")" -ge 1 ]; then
  ok "ipvs -> iptables -> ipvs: each mode removed the other's objects (foreign virtual server kept) and served traffic"
else bad "mode switch: iptables mode:${ipt_why:- ok}; iptables-mode lines left in IPVS mode: $left"; fi

# Cleanup removes every object of ours and nothing foreign.
topo_stop_kproxy
in_node "$build/kproxy" --cleanup >>"$log" 2>&1 || true
v=$(ipvs)
if [ "$(grep -c '^TCP\|^UDP' <<<"$v")" = 1 ] && grep -q '10.50.0.1:80' <<<"$v" && ! in_node ip link show kube-ipvs0 >/dev/null 2>&1 &&
   [ -z "$(in_node ipset list -n | grep '^KUBE-')" ] && [ -z "$(in_node iptables-save | grep KUBE-)" ]; then
  ok "--cleanup removed our virtual servers, kube-ipvs0, ipsets and rules, and kept the foreign virtual server"
else bad "cleanup left: $v $(in_node ipset list -n) $(in_node iptables-save | grep -c KUBE-)"; fi

live_finish
