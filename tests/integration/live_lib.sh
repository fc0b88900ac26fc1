# Shared by the live tests of every mode (iptables_live_test.sh, nftables_live_test.sh): helpers,
# the standard manifests, and the scenarios whose expected behaviour does not depend on the mode.
# Source after topology.sh, with these set: build (build dir), work (temp dir), LIVE_TAG (a label
# for result lines), log (kproxy's log); and these functions defined by the test:
#   start [flags...]          starts kproxy in the node namespace
#   wait_rules PATTERN SECS   until the kernel's rules show PATTERN
# and DNS_MOVED_PATTERN: what the rules show once t/dns leads to pod-2 only (or dns_moved_wait).
# IP plan and Services: topology.sh, and
#   web 10.96.0.80:80 (NodePort 30080) -> pods 1-3:8080    dns 10.96.0.10:53/udp -> pod-1:5353
#   sticky 10.96.0.81:80 (ClientIP affinity) -> pods 1-3   empty 10.96.0.82:80 (no endpoints)
#   self 10.96.0.83:80 -> pod-1 only (hairpin)             dns3 10.96.0.84:53/udp -> pods 1-3:5353
#   lb 10.96.0.86 (LoadBalancer, eTP Local, NodePort 30086, health check 32001) -> pods 1-2 (node1)
#   lbremote 10.96.0.87 (eTP Local, NodePort 30087, health check 32002) -> pod-3 on node2
#   dual 10.96.0.85 + fd00:96::85 -> fd00:244:1::2 (IPv6 rules only, no traffic)

passed=0
failed=0
ok() { echo "ok   [$LIVE_TAG] $*"; passed=$((passed + 1)); }
bad() { echo "FAIL [$LIVE_TAG] $*"; failed=$((failed + 1)); }
# client_exec NS COMMAND...: how a client process runs in a namespace (ebpf mode's test also
# puts it in its cgroup).
if ! declare -F client_exec >/dev/null; then client_exec() { local ns=$1; shift; ip netns exec "$(topo_ns "$ns")" "$@"; }; fi
from() { local ns=$1; shift; client_exec "$ns" "$build/kproxy-testclient" "$@" 2>&1 || true; }
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

live_manifests() {
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
  # Dual-stack: the IPv6 half goes to the IPv6 ruleset (no IPv6 routes here: rules only).
  printf 'kind: Service\nmetadata: {name: dual, namespace: t}\nspec:\n  clusterIP: 10.96.0.85\n  clusterIPs: [10.96.0.85, "fd00:96::85"]\n  ports: [{name: http, port: 80}]\n---\nkind: EndpointSlice\nmetadata: {name: dual-v6, namespace: t, labels: {kubernetes.io/service-name: dual}}\naddressType: IPv6\nendpoints: [{addresses: ["fd00:244:1::2"]}]\nports: [{name: http, port: 8080}]\n' | write dual.yaml
  { service sticky 10.96.0.81 '  sessionAffinity: ClientIP'; slice sticky 8080 TCP 1 2 3; } | write sticky.yaml
  service empty 10.96.0.82 | write empty.yaml
  { service self 10.96.0.83; slice self 8080 TCP 1; } | write self.yaml
}

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

# Health-check node ports answer per local endpoint count, and close with their Service.
live_health_check_node_ports() {
  local out i
  # The port opens after the first sync of every family: give a loaded machine a moment.
  for i in $(seq 25); do
    out=$(http_get 10.200.0.1 32001 /)
    grep -q '^HTTP/1.0 200' <<<"$out" && break
    sleep 0.2
  done
  if grep -q '^HTTP/1.0 200' <<<"$out" && grep -qi '^X-Load-Balancing-Endpoint-Weight: 2' <<<"$out" && grep -q '"localEndpoints": 2' <<<"$out"; then
    ok "health check node port: 200 with 2 local endpoints"
  else bad "health check node port 32001: $out"; fi
  out=$(http_get 10.200.0.1 32002 /)
  grep -q '^HTTP/1.0 503' <<<"$out" && grep -q '"localEndpoints": 0' <<<"$out" && ok "health check node port: 503 without local endpoints" ||
    bad "health check node port 32002: $out"
}

# The scenarios every mode must pass alike, in order.
live_common_scenarios() {
  local out out2
  # ClusterIP TCP and UDP balance from the client and from the node itself.
  balanced "ClusterIP TCP" tcp 10.96.0.80 80
  balanced "ClusterIP UDP" udp 10.96.0.84 53
  out=$(from client udp 10.96.0.10 53 20)
  [ "$(count pod-1 "$out")" = 20 ] && ok "UDP ClusterIP from client" || bad "UDP ClusterIP from client: $out"
  out=$(from node udp 10.96.0.10 53 20)
  [ "$(count pod-1 "$out")" = 20 ] && ok "UDP ClusterIP from the node" || bad "UDP ClusterIP from the node: $out"
  out=$(from client tcp 10.200.0.1 30080 90)
  if [ "$(count pod-1 "$out")" -gt 0 ] && [ "$(count pod-2 "$out")" -gt 0 ] && [ "$(count pod-3 "$out")" -gt 0 ]; then
    ok "NodePort from the client reaches all endpoints"
  else bad "NodePort: $(tr '\n' ' ' <<<"$out")"; fi

  # sessionAffinity ClientIP sticks.
  out=$(from client tcp 10.96.0.81 80 40)
  [ "$(wc -l <<<"$out")" = 1 ] && [ "$(awk '{print $2}' <<<"$out")" = 40 ] && grep -q '^pod-' <<<"$out" && ok "affinity: 40 of 40 to $(awk '{print $1}' <<<"$out")" ||
    bad "affinity did not stick: $(tr '\n' ' ' <<<"$out")"

  # No endpoints: refused (REJECT), quickly, from the client and from the node.
  local who t0 ms
  for who in client node; do
    t0=$(date +%s%N)
    out=$(from "$who" tcp 10.96.0.82 80 1 --timeout-ms 3000)
    ms=$(( ($(date +%s%N) - t0) / 1000000 ))
    if [ "$(count refused "$out")" = 1 ] && [ "$ms" -lt 500 ]; then ok "no endpoints: refused from $who in ${ms}ms"
    else bad "no endpoints from $who: '$out' after ${ms}ms"; fi
  done

  # Hairpin: pod-1 reaching a Service whose only endpoint is itself.
  out=$(from pod1 tcp 10.96.0.83 80 5)
  [ "$(count pod-1 "$out")" = 5 ] && ok "hairpin: pod-1 reaches itself through its Service" || bad "hairpin: $out"

  # A restart keeps an established connection.
  client_exec client "$build/kproxy-testclient" hold 10.96.0.80 80 4 >"$work/hold" 2>&1 &
  local holder=$!
  sleep 1
  topo_stop_kproxy
  start
  wait_rules '10.96.0.83' 10 || true
  wait "$holder" || true
  grep -q '^held' "$work/hold" && ok "restart kept an established connection ($(cat "$work/hold"))" ||
    bad "connection broke across a restart: $(cat "$work/hold")"

  # Removed and not-ready endpoints get nothing 1 s after the change. A mode slower than that
  # to program under emulation (IPVS in TCG, starved by parallel tests) defines web_moved_wait
  # to wait for the kernel to show the change first.
  { service web 10.96.0.80 '  type: NodePort' ', nodePort: 30080'; slice web 8080 TCP 1 2:notready; } | write web.yaml
  if declare -F web_moved_wait >/dev/null; then web_moved_wait || true; fi
  sleep 1
  out=$(from client tcp 10.96.0.80 80 60)
  if [ "$(count pod-3 "$out")" = 0 ] && [ "$(count pod-2 "$out")" = 0 ] && [ "$(count pod-1 "$out")" = 60 ]; then
    ok "removed endpoint and not-ready endpoint get no connections 1s after the change"
  else bad "after removing pod-3 and pod-2 not ready: $(tr '\n' ' ' <<<"$out")"; fi

  # UDP conntrack: a client on a fixed source port follows its backend being replaced.
  out=$(from client udp 10.96.0.10 53 3 --src-port 40053)
  { cat "$work/dns.svc"; slice dns 5353 UDP 2; } | write dns.yaml
  # A mode whose kernel view shows the new backend before the old one is gone (IPVS adds, then
  # deletes) defines dns_moved_wait to wait for the whole move.
  if declare -F dns_moved_wait >/dev/null; then dns_moved_wait || true
  else wait_rules "$DNS_MOVED_PATTERN" 5 || true; fi
  sleep 0.3
  out2=$(from client udp 10.96.0.10 53 3 --src-port 40053)
  if [ "$(count pod-1 "$out")" = 3 ] && [ "$(count pod-2 "$out2")" = 3 ]; then ok "UDP flow from a fixed port moved to the new backend"
  else bad "UDP conntrack: before '$out' after '$out2' (stale flow kept?)"; fi
}

live_finish() {
  echo "$passed passed, $failed failed"
  if [ "$failed" != 0 ] && [ -f "$log" ]; then
    echo "--- kproxy log (last 40 lines)"
    tail -40 "$log"
  fi
  [ "$failed" = 0 ]
}
