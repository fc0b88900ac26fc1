#!/usr/bin/env bash
# On a kernel without IPVS (this machine's), `kproxy --proxy-mode ipvs` exits at once saying so
# and changes nothing: the rules an earlier mode left keep serving. In a namespace of its own.
# Usage: ipvs_unavailable_test.sh BUILD_DIR
set -euo pipefail
build=${1:?usage: $0 BUILD_DIR}
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root for network namespaces"; exit 77; }
ns=kproxy-test-noipvs-$$
work=$(mktemp -d)
ip netns add "$ns"
trap 'ip netns del "$ns"; rm -rf "$work"' EXIT
if ip netns exec "$ns" test -e /proc/sys/net/ipv4/vs; then echo "SKIP: this kernel has IPVS"; exit 77; fi
# iptables mode's chains, which IPVS mode's start-up would remove.
ip netns exec "$ns" iptables-nft -t nat -N KUBE-SERVICES
ip netns exec "$ns" iptables-nft -t nat -N KUBE-SVC-AAAAAAAAAAAAAAAA
ip netns exec "$ns" iptables-nft -t nat -A KUBE-SERVICES -d 10.96.0.1/32 -j KUBE-SVC-AAAAAAAAAAAAAAAA
ip netns exec "$ns" iptables-nft -t nat -A PREROUTING -j KUBE-SERVICES
set +e
out=$(timeout 20 ip netns exec "$ns" "$build/kproxy" --proxy-mode ipvs --manifests "$work" --hostname-override n1 2>&1)
rc=$?
set -e
left=$(ip netns exec "$ns" iptables-nft-save -t nat | grep -c 'KUBE-' || true)
if [ "$rc" = 1 ] && grep -q 'this kernel has no IPVS .*nothing was changed' <<<"$out" && [ "$left" = 4 ]; then
  echo "ok   kproxy --proxy-mode ipvs without IPVS: exit 1, says why, iptables mode's rules kept"
else
  echo "FAIL exit $rc, $left of 4 KUBE- lines left: $out"
  exit 1
fi
