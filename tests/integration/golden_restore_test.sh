#!/usr/bin/env bash
# Every golden ruleset must be accepted by the real kernel: for each golden and for both iptables
# backends (nft and legacy), load it with iptables-restore --noflush into a fresh network
# namespace, twice (the second load must replace, not duplicate), and compare iptables-save.
# IP plan: none; no interface but lo exists and no packet is sent.
set -euo pipefail
here=$(dirname "$(readlink -f "$0")")
. "$here/lib.sh"
require_root iptables-nft-restore iptables-legacy-restore ip6tables-nft-restore ip6tables-legacy-restore

golden_dir=${1:?usage: $0 GOLDEN_DIR}
failures=0
checked=0

# Prints "table chain rule-count" for each chain a restore text or iptables-save output defines.
chain_counts() {
  awk '
    /^\*/ { table = substr($0, 2) }
    /^:/  { split(substr($0, 2), a, " "); n[table " " a[1]] += 0 }
    /^-A / { n[table " " $2]++ }
    END { for (k in n) print k, n[k] }' | sort
}

for dir in "$golden_dir"/*/; do
  name=$(basename "$dir")
  golden="$dir/iptables.golden"
  [ -f "$golden" ] || continue
  family=4
  grep -q '"family": 6' "$dir/input.json" && family=6
  for backend in nft legacy; do
    if [ "$family" = 6 ]; then tool="ip6tables-$backend"; else tool="iptables-$backend"; fi
    ns=$(make_ns golden)
    ok=1
    if ! err=$(in_ns "$ns" "$tool-restore" --test < "$golden" 2>&1); then
      echo "FAIL $name [$tool]: --test rejected the golden: $err"
      ok=0
    fi
    for pass in 1 2; do
      if [ $ok = 1 ] && ! err=$(in_ns "$ns" "$tool-restore" --noflush < "$golden" 2>&1); then
        echo "FAIL $name [$tool]: load $pass failed: $err"
        ok=0
      fi
    done
    if [ $ok = 1 ]; then
      want=$(chain_counts < "$golden")
      # Only the chains the golden defines; built-in chains hold nothing in a fresh namespace.
      got=$(in_ns "$ns" "$tool-save" | chain_counts | grep -F -f <(echo "$want" | awk '{print $1 " " $2 " "}') || true)
      if [ "$want" != "$got" ]; then
        echo "FAIL $name [$tool]: kernel holds different chains or rule counts than the golden:"
        diff <(echo "$want") <(echo "$got") | head -20
        ok=0
      fi
    fi
    drop_ns "$ns"
    checked=$((checked + 1))
    if [ $ok = 1 ]; then echo "ok   $name [$tool]"; else failures=$((failures + 1)); fi
  done
done

if [ "$checked" -lt 24 ]; then
  echo "FAIL: only $checked golden loads checked; expected at least 12 goldens x 2 backends"
  exit 1
fi
echo "$((checked - failures)) passed, $failures failed"
[ "$failures" -eq 0 ]
