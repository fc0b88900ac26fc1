#!/usr/bin/env bash
# `kproxy render` end to end: its output for deploy/examples loads into a fresh namespace with
# both iptables backends and, in nftables mode, with `nft -f` (both families), and a malformed manifest among good ones is reported (exit 1) while
# the good ones still render and load.
# IP plan: none; only lo exists and no packet is sent.
set -euo pipefail
here=$(dirname "$(readlink -f "$0")")
. "$here/lib.sh"
require_root iptables-nft-restore iptables-legacy-restore

kproxy=${1:?usage: $0 KPROXY SOURCE_DIR}
src=${2:?usage: $0 KPROXY SOURCE_DIR}
work=$(mktemp -d)
trap 'cleanup_namespaces; rm -rf "$work"' EXIT
failures=0
checks=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
check() { checks=$((checks + 1)); }

check
"$kproxy" render --manifests "$src/deploy/examples" --node node1 --cluster-cidr 10.244.0.0/16 >"$work/rules" 2>"$work/err" ||
  fail "render of deploy/examples exited $?: $(cat "$work/err")"
check; grep -q '^:KUBE-SVC-' "$work/rules" || fail "no service chain rendered"

cp "$src"/deploy/examples/*.yaml "$work/"
printf 'kind: Service\nmetadata: {name: broken, namespace: demo}\nspec: {clusterIP: 10.96.0.99, ports: [{port: 80, protocol: ICMP}]}\n' \
  >"$work/zz-broken.yaml"
set +e
"$kproxy" render --manifests "$work" --node node1 >"$work/rules2" 2>"$work/err2"
rc=$?
set -e
check; [ "$rc" = 1 ] || fail "a bad manifest should exit 1, got $rc"
check; grep -q 'Service demo/broken: spec.ports\[0\].protocol: unknown protocol' "$work/err2" ||
  fail "bad manifest not reported by name and field: $(cat "$work/err2")"
check; grep -q '10.96.0.80' "$work/rules2" || fail "good services missing when one manifest is bad"
check; grep -q '10.96.0.99' "$work/rules2" && fail "the bad service was rendered"

for backend in nft legacy; do
  for rules in "$work/rules" "$work/rules2"; do
    check
    ns=$(make_ns render)
    if err=$(in_ns "$ns" "iptables-$backend-restore" --noflush <"$rules" 2>&1); then
      n=$(in_ns "$ns" "iptables-$backend-save" -t nat | grep -c '^-A KUBE-SEP-' || true)
      [ "$n" -ge 8 ] || fail "[$backend] only $n KUBE-SEP rules loaded from $(basename "$rules")"
    else
      fail "[$backend] kernel rejected $(basename "$rules"): $err"
    fi
    drop_ns "$ns"
  done
done

# nftables mode: `kproxy render --proxy-mode nftables` is an `nft -f` file, per family.
if command -v nft >/dev/null; then
  for family in 4 6; do
    check
    "$kproxy" render --proxy-mode nftables --family "$family" --manifests "$src/deploy/examples" --node node1 \
      --cluster-cidr 10.244.0.0/16 >"$work/nft$family" 2>"$work/errn" || fail "nftables render (IPv$family) exited $?: $(cat "$work/errn")"
    table=ip; [ "$family" = 6 ] && table=ip6
    ns=$(make_ns render)
    if err=$(in_ns "$ns" nft -f "$work/nft$family" 2>&1); then
      listed=$(in_ns "$ns" nft list table "$table" kube-proxy)
      if [ "$family" = 4 ]; then
        grep -q '10.96.0.80 . tcp . 80 : goto service-' <<<"$listed" || fail "[nftables] web's ClusterIP not in service-ips"
      else
        grep -q 'map service-ips' <<<"$listed" || fail "[nftables] no service-ips map in ip6 kube-proxy"
      fi
    else
      fail "[nftables IPv$family] nft -f rejected the render: $err"
    fi
    drop_ns "$ns"
  done
else
  echo "note: nft missing, nftables render not loaded (scripts/install-deps.sh installs it)"
fi

echo "$((checks - failures)) passed, $failures failed"
[ "$failures" -eq 0 ]
