#!/usr/bin/env bash
# Every nftables golden must be accepted by the real kernel: load it with `nft -f` into a fresh
# network namespace, twice (the file deletes the table first, so the second load replaces the
# first), and check that the kernel lists every chain, set and element count it declares.
# IP plan: none; no interface but lo exists and no packet is sent.
set -euo pipefail
here=$(dirname "$(readlink -f "$0")")
. "$here/lib.sh"
require_root nft

golden_dir=${1:?usage: $0 GOLDEN_DIR}
failures=0
checked=0
for dir in "$golden_dir"/*/; do
  name=$(basename "$dir")
  golden="$dir/nftables.golden"
  [ -f "$golden" ] || continue
  family=ip
  grep -q '^table ip6 ' "$golden" && family=ip6
  ns=$(make_ns "nftgolden")
  ok=1
  for attempt in 1 2; do
    if ! out=$(in_ns "$ns" nft -f "$golden" 2>&1); then
      echo "FAIL $name: nft -f (load $attempt) rejected it: $out"
      ok=0
      break
    fi
  done
  if [ "$ok" = 1 ]; then
    listed=$(in_ns "$ns" nft list table "$family" kube-proxy)
    want_chains=$(grep -c '^	chain ' "$golden")
    got_chains=$(grep -c '^	chain ' <<<"$listed")
    want_sets=$(grep -cE '^	(set|map) ' "$golden")
    got_sets=$(grep -cE '^	(set|map) ' <<<"$listed")
    want_rules=$(awk '/^\tchain /{c=1; next} /^\t}/{c=0} c && /^\t\t/ && !/^\t\t(type|comment) /' "$golden" | wc -l)
    got_rules=$(awk '/^\tchain /{c=1; next} /^\t}/{c=0} c && /^\t\t/ && !/^\t\t(type|comment) / && NF' <<<"$listed" | wc -l)
    if [ "$want_chains $want_sets $want_rules" != "$got_chains $got_sets $got_rules" ]; then
      echo "FAIL $name: declared $want_chains chains, $want_sets sets, $want_rules rules; kernel lists $got_chains, $got_sets, $got_rules"
      ok=0
    fi
  fi
  [ "$ok" = 1 ] && echo "ok   $name ($want_chains chains, $want_sets sets and maps, $want_rules rules)" || failures=$((failures + 1))
  checked=$((checked + 1))
  drop_ns "$ns"
done
echo "$checked goldens loaded, $failures failures"
[ "$checked" -ge 12 ] && [ "$failures" = 0 ]
