#!/usr/bin/env bash
# Runs every libFuzzer target of a KPROXY_FUZZ build for SECONDS each, two at a time, from the
# seeds in tests/fuzz/corpus/<target>/ (read-only; new inputs go to BUILD/fuzz-work/<target>).
# Fails on any crash, leak, timeout or out-of-memory; the input that did it is kept in
# BUILD/fuzz-artifacts/ and named in the output. Prints executions per target.
# FUZZ_SEED fixes libFuzzer's seed (CI sets it, so that a run explores what the last one did and
# a red CI means this change, not a luckier draw); unset, each run draws its own.
# Usage: scripts/fuzz.sh BUILD_DIR [SECONDS] [TARGET...]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:?usage: $0 BUILD_DIR [SECONDS] [TARGET...]}
secs=${2:-60}
shift $(( $# >= 2 ? 2 : 1 ))
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  for f in "$build"/fuzz_*; do [ -x "$f" ] && targets+=("$(basename "$f" | sed 's/^fuzz_//')"); done
fi
[ ${#targets[@]} -gt 0 ] || { echo "fuzz: no fuzz_* targets in $build (make fuzz builds them)"; exit 1; }
mkdir -p "$build/fuzz-artifacts" "$build/fuzz-logs"

run_one() {
  local t=$1 work="$build/fuzz-work/$1" seeds="$root/tests/fuzz/corpus/$1" rc=0
  mkdir -p "$work"
  [ -d "$seeds" ] || seeds=""
  # -timeout: one input over 10 s is a hang; -rss_limit_mb/-malloc_limit_mb: a blow-up is a crash.
  timeout $((secs + 120)) "$build/fuzz_$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
    -malloc_limit_mb=2048 -max_len=65536 -print_final_stats=1 ${FUZZ_SEED:+-seed="$FUZZ_SEED"} -artifact_prefix="$build/fuzz-artifacts/$t-" \
    "$work" ${seeds:+"$seeds"} >"$build/fuzz-logs/$t.log" 2>&1 || rc=$?
  local execs corpus
  execs=$(awk '/stat::number_of_executed_units/ { print $2 }' "$build/fuzz-logs/$t.log")
  corpus=$(ls "$work" | wc -l)
  if [ "$rc" = 0 ]; then
    printf 'fuzz %-14s ok      %10s executions in %ss (%s/s), corpus %s\n' "$t" "${execs:-?}" "$secs" \
      "$(( ${execs:-0} / secs ))" "$corpus"
  else
    printf 'fuzz %-14s FAILED  (exit %s) after %s executions; log %s\n' "$t" "$rc" "${execs:-?}" "$build/fuzz-logs/$t.log"
    grep -E 'ERROR: |SUMMARY: |Test unit written to|runtime error' "$build/fuzz-logs/$t.log" | head -8 | sed 's/^/    /'
    return 1
  fi
}

failed=0
pids=()
names=()
for t in "${targets[@]}"; do
  run_one "$t" &
  pids+=($!)
  names+=("$t")
  # Two at a time: the machine has two cores.
  if [ ${#pids[@]} -ge 2 ]; then
    wait "${pids[0]}" || failed=$((failed + 1))
    pids=("${pids[@]:1}")
  fi
done
for p in "${pids[@]}"; do wait "$p" || failed=$((failed + 1)); done
echo "fuzz: ${#targets[@]} targets, $failed failed"
[ "$failed" = 0 ]
