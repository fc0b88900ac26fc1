#!/usr/bin/env bash
# Runs a command inside a fresh network namespace kproxy-test-NAME-PID (lo up), deleted after.
# Usage: run_in_netns.sh NAME COMMAND [ARGS...]. Exits 77 (skip) when not root.
set -euo pipefail
name=${1:?usage: $0 NAME COMMAND...}
shift
if [ "$(id -u)" -ne 0 ]; then
  echo "SKIP: needs root for network namespaces"
  exit 77
fi
ns="kproxy-test-$name-$$"
ip netns add "$ns"
trap 'ip netns del "$ns" 2>/dev/null || true' EXIT INT TERM
ip -n "$ns" link set lo up
KPROXY_IN_TEST_NETNS=$ns ip netns exec "$ns" "$@"
