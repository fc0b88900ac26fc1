#!/usr/bin/env bash
# `kproxy trace` against real rules and connections, in both modes: every verdict (reachable; no
# Service; no ready endpoints, with the REJECT on the path; a Local policy without a local
# endpoint, with the DROP; drift made by deleting a rule or map entry by hand; rules missing in
# the kernel, with the time of the last sync) is produced by a scenario, and agrees with what
# --probe finds. Also: --from another host, -o json, exit statuses.
# Usage: trace_live_test.sh BUILD_DIR. IP plan: topology.sh.
set -euo pipefail
here=$(dirname "$(readlink -f "$0")")
build=${1:?usage: $0 BUILD_DIR}
if [ "$(id -u)" -ne 0 ]; then
  echo "SKIP: needs root for network namespaces"
  exit 77
fi
command -v nft >/dev/null || { echo "SKIP: nft missing (scripts/install-deps.sh installs it)"; exit 77; }
TOPO_PREFIX="kproxy-test-trace-$$"
. "$here/topology.sh"
work=$(mktemp -d)
trap 'topo_cleanup; rm -rf "$work"' EXIT
trap 'exit 130' INT TERM
LIVE_TAG=trace
log="$work/kproxy.log"
. "$here/live_lib.sh"
in_node() { ip netns exec "$(topo_ns node)" "$@"; }

topo_up "$build/kproxy-testserver"
mkdir -p "$work/manifests"
{ service web 10.96.0.80; slice web 8080 TCP 1 2 3; } | write web.yaml
printf '%s\n' 'kind: Service' 'metadata: {name: gone, namespace: t}' 'spec: {clusterIP: 10.96.0.90, ports: [{name: http, port: 80}]}' '---' \
  'kind: EndpointSlice' 'metadata: {name: gone-1, namespace: t, labels: {kubernetes.io/service-name: gone}}' 'addressType: IPv4' \
  'endpoints:' \
  '- {addresses: [10.244.1.2], conditions: {ready: false, serving: false, terminating: true}, nodeName: node1}' \
  '- {addresses: [10.244.2.2], conditions: {ready: false, serving: false, terminating: true}, nodeName: node1}' \
  '- {addresses: [10.244.3.2], conditions: {ready: false}, nodeName: node1}' \
  'ports: [{name: http, port: 8080}]' | write gone.yaml
printf '%s\n' 'kind: Service' 'metadata: {name: local, namespace: t}' \
  'spec: {clusterIP: 10.96.0.91, internalTrafficPolicy: Local, ports: [{name: http, port: 80}]}' '---' \
  'kind: EndpointSlice' 'metadata: {name: local-1, namespace: t, labels: {kubernetes.io/service-name: local}}' 'addressType: IPv4' \
  'endpoints: [{addresses: [10.244.3.2], nodeName: node2}]' 'ports: [{name: http, port: 8080}]' | write local.yaml

# trace TARGET [flags...]: runs kproxy trace in the node namespace; sets $out and $rc.
trace() {
  local target=$1
  shift
  set +e
  out=$(in_node "$build/kproxy" trace "$target" --manifests "$work/manifests" --hostname-override node1 \
    --cluster-cidr 10.244.0.0/16 --proxy-mode "$mode" --kernel --probe --timeout 700 "$@" 2>&1)
  rc=$?
  set -e
}
verdict() { head -1 <<<"$out"; }
probe_answered() { grep -q '^probe: *answered by 10.244.[123].2:8080' <<<"$out"; }
probe_failed() { grep -q '^probe: *no answer' <<<"$out"; }
expect() { # LABEL VERDICT-REGEX RC PROBE(answered|failed|any) [PATH-REGEX]
  local label=$1 want=$2 wantrc=$3 p=$4 path=${5:-}
  local good=1
  grep -Eq -- "$want" <<<"$(verdict)" || good=0
  [ "$rc" = "$wantrc" ] || good=0
  case $p in answered) probe_answered || good=0 ;; failed) probe_failed || good=0 ;; esac
  [ -z "$path" ] || grep -Eq -- "$path" <<<"$out" || good=0
  if [ $good = 1 ]; then ok "$label: $(verdict)"
  else bad "$label (exit $rc): $out"; fi
}

for mode in iptables nftables; do
  LIVE_TAG="trace $mode"
  : >"$log"
  # No periodic resync: what is changed by hand below stays changed while we look.
  topo_start_kproxy "$build/kproxy" "$work/manifests" "$log" --proxy-mode "$mode" --iptables-sync-period 1h \
    --iptables-min-sync-period 0
  deadline=$((SECONDS + 20))
  until grep -q 'full sync (IPv4) done' "$log"; do
    [ $SECONDS -lt $deadline ] || { bad "kproxy never synced: $(tail -3 "$log")"; break; }
    sleep 0.1
  done

  trace 10.96.0.80:80
  expect "reachable" '^reachable: 3 endpoints \(3 ready\)$' 0 answered 'DNAT 10.244.3.2:8080'
  if [ "$(grep -c '^ *33.3%  DNAT 10.244.[123].2:8080' <<<"$out")" = 3 ]; then ok "kernel path: three endpoints, a third each"
  else bad "kernel path: $out"; fi
  trace 10.96.0.80:80 --from 10.200.0.2
  expect "from another host" '^reachable' 0 any 'DNAT 10.244.1.2:8080, masqueraded'
  trace 10.96.0.80:81/tcp
  expect "no Service" '^unreachable: no Service has 10.96.0.80:81/TCP$' 1 failed 'this address has: t/web:http'
  trace 10.96.0.90:80
  expect "no ready endpoints" '^unreachable: no ready endpoints \(2 terminating, not serving, 1 not ready\)$' 1 failed 'REJECT'
  trace 10.96.0.91:80
  expect "Local policy" '^unreachable: internalTrafficPolicy Local and no endpoint on node1$' 1 failed 'DROP'
  grep -q 'on node2, not node1 (internalTrafficPolicy Local)' <<<"$out" && ok "says why the endpoint is not used" ||
    bad "no reason for the unused endpoint: $out"
  trace 10.96.0.80:80 -o json
  if python3 -c 'import json,sys; j=json.loads(sys.stdin.read()); assert j["reachable"] and len(j["endpoints"]) == 3 and j["probe"]["answered"] and j["kernel"]["paths"]' <<<"$out"; then
    ok "-o json"
  else bad "-o json: $out"; fi

  # Drift: pod-3's entry removed by hand.
  if [ "$mode" = iptables ]; then
    sep=$(in_node iptables-nft-save -t nat | awk '/-j DNAT --to-destination 10.244.3.2:8080/ && /KUBE-SEP-/ {print $2; exit}')
    in_node iptables-nft -t nat -D "$sep" 2
    trace 10.96.0.80:80
    expect "drift" '^drift: kernel differs from the desired state in 1 chain$' 1 any '\(desired\): .*10.244.3.2:8080'
  else
    in_node nft delete element ip kube-proxy cluster-endpoints '{ 10.96.0.80 . tcp . 80 . 2 }'
    trace 10.96.0.80:80
    expect "drift" '^drift: kernel differs from the desired state in [0-9]+ entr' 1 any 'not in the kernel'
  fi

  # Rules gone from the kernel while kproxy runs: the verdict says when it last synced.
  if [ "$mode" = iptables ]; then in_node iptables-nft -t nat -F KUBE-SERVICES; else in_node nft delete table ip kube-proxy; fi
  trace 10.96.0.80:80
  expect "rules missing" '^unreachable: rules for 10.96.0.80:80/TCP missing in the kernel: last successful sync [0-9]+s ago$' 1 failed

  topo_stop_kproxy
  in_node "$build/kproxy" cleanup >/dev/null 2>&1
  trace 10.96.0.80:80
  expect "rules missing, no kproxy" 'missing in the kernel: no kproxy answering /healthz' 1 failed
done

LIVE_TAG=trace
set +e
in_node "$build/kproxy" trace nonsense --manifests "$work/manifests" >/dev/null 2>&1
rc=$?
set -e
[ "$rc" = 2 ] && ok "a malformed address exits 2" || bad "malformed address: exit $rc"

echo "trace_live: $passed passed, $failed failed"
[ "$failed" = 0 ]
