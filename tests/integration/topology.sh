# A one-node cluster in network namespaces, shared by the demo and the live tests.
# Source it after setting TOPO_PREFIX (namespace name prefix, e.g. kproxy-test-live-$$).
#
# IP plan (exists only inside these namespaces):
#   client   eth0 10.200.0.2/24            default via 10.200.0.1 (the node)
#   node     c0   10.200.0.1/24            the node IP; default via 10.200.0.2
#            p<i> 10.244.<i>.1/24          one link per pod, i = 1..3
#   pod<i>   eth0 10.244.<i>.2/24          default via 10.244.<i>.1; serves TCP 8080, UDP 5353
#   Services (from manifests): ClusterIPs in 10.96.0.0/16, NodePorts on 10.200.0.1.

TOPO_NS=()
TOPO_PIDS=()

topo_ns() { echo "$TOPO_PREFIX-$1"; }

topo_cleanup() {
  for pid in "${TOPO_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${TOPO_PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  TOPO_PIDS=()
  for ns in "${TOPO_NS[@]}"; do ip netns del "$ns" 2>/dev/null || true; done
  TOPO_NS=()
}

topo_add_ns() {
  local ns
  ns=$(topo_ns "$1")
  ip netns add "$ns"
  TOPO_NS+=("$ns")
  ip -n "$ns" link set lo up
}

# topo_up SERVER_BINARY: creates the namespaces and links and starts a server in each pod.
topo_up() {
  local server=$1 node client
  node=$(topo_ns node)
  client=$(topo_ns client)
  topo_add_ns node
  topo_add_ns client
  ip netns exec "$node" sysctl -qw net.ipv4.ip_forward=1
  # The node routes unknown destinations (a Service IP without rules) back out to the client;
  # for such a hairpin the kernel sends an ICMP redirect, and that uses up the ICMP rate-limit
  # token the REJECT's port-unreachable needs. Real nodes route to a gateway, not to the client.
  ip netns exec "$node" sysctl -qw net.ipv4.conf.all.send_redirects=0
  ip link add c0 netns "$node" type veth peer name eth0 netns "$client"
  ip netns exec "$node" sysctl -qw net.ipv4.conf.c0.send_redirects=0
  ip -n "$node" addr add 10.200.0.1/24 dev c0
  ip -n "$node" link set c0 up
  ip -n "$client" addr add 10.200.0.2/24 dev eth0
  ip -n "$client" link set eth0 up
  ip -n "$client" route add default via 10.200.0.1
  ip -n "$node" route add default via 10.200.0.2
  for i in 1 2 3; do
    local pod
    pod=$(topo_ns "pod$i")
    topo_add_ns "pod$i"
    ip link add "p$i" netns "$node" type veth peer name eth0 netns "$pod"
    ip -n "$node" addr add "10.244.$i.1/24" dev "p$i"
    ip -n "$node" link set "p$i" up
    ip -n "$pod" addr add "10.244.$i.2/24" dev eth0
    ip -n "$pod" link set eth0 up
    ip -n "$pod" route add default via "10.244.$i.1"
    ip netns exec "$pod" "$server" "pod-$i" --tcp 8080 --udp 5353 &
    TOPO_PIDS+=($!)
  done
}

# topo_start_kproxy KPROXY MANIFEST_DIR LOG [extra flags...]: runs kproxy in the node namespace.
topo_start_kproxy() {
  local kproxy=$1 dir=$2 log=$3
  shift 3
  ip netns exec "$(topo_ns node)" "$kproxy" --manifests "$dir" --hostname-override node1 \
    --cluster-cidr 10.244.0.0/16 "$@" >>"$log" 2>&1 &
  KPROXY_PID=$!
  TOPO_PIDS+=("$KPROXY_PID")
}

# topo_save TABLE: the node namespace's rules.
topo_save() { ip netns exec "$(topo_ns node)" "${TOPO_SAVE:-iptables-save}" -t "$1" 2>/dev/null || true; }

topo_stop_kproxy() {
  kill "$KPROXY_PID" 2>/dev/null || true
  wait "$KPROXY_PID" 2>/dev/null || true
}

# until_ok SECONDS COMMAND...: retries COMMAND every 0.1 s until it succeeds or time is up.
until_ok() {
  local deadline=$((SECONDS + $1))
  shift
  while [ $SECONDS -lt $deadline ]; do "$@" && return 0; sleep 0.1; done
  return 1
}

# topo_wait_output PATTERN SECONDS COMMAND...: until COMMAND's output shows PATTERN.
topo_wait_output() {
  local pattern=$1 secs=$2
  shift 2
  local deadline=$((SECONDS + secs)) out
  while [ $SECONDS -lt $deadline ]; do
    # Captured first: under pipefail, grep -q closing the pipe early would fail the check.
    out=$("$@" 2>/dev/null || true)
    grep -q -- "$pattern" <<<"$out" && return 0
    sleep 0.1
  done
  return 1
}

# topo_wait_for PATTERN [TABLE] [SECONDS]: until the node's iptables-save shows PATTERN.
topo_wait_for() {
  topo_wait_output "$1" "${3:-10}" ip netns exec "$(topo_ns node)" "${TOPO_SAVE:-iptables-save}" -t "${2:-nat}"
}
