#!/usr/bin/env bash
# `make demo`: a one-node cluster in network namespaces (a node, three pods, a client), kproxy in
# the node namespace on deploy/examples/, real connections to the ClusterIP and the NodePort, then
# a scale-down by rewriting a manifest. Touches nothing outside the namespaces it creates, and
# removes them (and the processes it started) on exit, Ctrl-C included.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD:-$root/build}
if [ "$(id -u)" -ne 0 ]; then
  echo "make demo needs root (it creates network namespaces)." >&2
  exit 1
fi
TOPO_PREFIX="kproxy-demo-$$"
. "$root/tests/integration/topology.sh"
work=$(mktemp -d)
cleanup() {
  topo_cleanup
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

client() { ip netns exec "$(topo_ns client)" "$build/kproxy-testclient" "$@" || true; }
bar() { # NAME COUNT TOTAL
  local n=$(( $2 * 40 / $3 ))
  printf '    %-8s %4d  %s\n' "$1" "$2" "$(printf '%*s' "$n" '' | tr ' ' '#')"
}
show() { # TOTAL: reads "name count" lines
  local total=$1
  while read -r name count; do bar "$name" "$count" "$total"; done
}

echo "== kproxy demo: one node, three pods, one client, all in network namespaces"
topo_up "$build/kproxy-testserver"
cp "$root"/deploy/examples/*.yaml "$work/"
log="$work/kproxy.log"
topo_start_kproxy "$build/kproxy" "$work" "$log" --iptables-min-sync-period 100ms
if ! topo_wait_for 'KUBE-SVC-' nat 15; then
  echo "kproxy did not program its rules; its log:" >&2
  cat "$log" >&2
  exit 1
fi
sleep 0.3

echo
echo "== 300 TCP connections from the client to the ClusterIP 10.96.0.80:80 (demo/web)"
client tcp 10.96.0.80 80 300 | show 300
echo
echo "== 150 TCP connections to the NodePort 10.200.0.1:30080"
client tcp 10.200.0.1 30080 150 | show 150
echo
echo "== 60 UDP queries to the kube-dns ClusterIP 10.96.0.10:53 (two endpoints)"
client udp 10.96.0.10 53 60 | show 60
echo
echo "== what kproxy programmed (nat table of the node namespace)"
topo_save nat | awk '
  /^:KUBE-(SVC|SVL|SEP|EXT|FW)-/ { n[substr($1, 2, 8) "*"]++; next }
  /^:KUBE-/ { n[substr($1, 2)]++ }
  /^-A KUBE-SERVICES/ { rules++ }
  END { for (k in n) printf "    %-18s %d chain%s\n", k, n[k], (n[k] > 1 ? "s" : ""); printf "    %-18s %d rules\n", "in KUBE-SERVICES", rules }' | sort
topo_save nat | grep -- '-A KUBE-SERVICES .*demo/web' | sed 's/^/    /' || true

echo
echo "== scale demo/web down to two pods: rewrite web.yaml without pod-3"
awk '/- addresses: \[10.244.3.2\]/ { skip = 4 } skip > 0 { skip--; next } { print }' \
  "$root/deploy/examples/web.yaml" >"$work/web.yaml.new"
mv "$work/web.yaml.new" "$work/web.yaml"
for _ in $(seq 50); do
  grep -q 'demo/web:http -> 10.244.3.2' <<<"$(topo_save nat)" || break
  sleep 0.1
done
echo "== 300 TCP connections to the ClusterIP again"
client tcp 10.96.0.80 80 300 | show 300
echo
echo "== kproxy's log"
sed 's/^/    /' "$log"
echo
echo "== done; removing the namespaces"
