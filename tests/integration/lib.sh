# Shared helpers for root integration tests: namespaces named kproxy-test-*, removed on exit.
# Each test sources this file, then calls `make_ns NAME` and runs commands with `in_ns NAME ...`.

KPROXY_TEST_NS=()

require_root() {
  if [ "$(id -u)" -ne 0 ]; then
    echo "SKIP: $(basename "$0") needs root (network namespaces, iptables)"
    exit 77
  fi
  for tool in ip "$@"; do
    if ! command -v "$tool" >/dev/null 2>&1; then
      echo "SKIP: $tool not installed (run scripts/install-deps.sh)"
      exit 77
    fi
  done
}

cleanup_namespaces() {
  for ns in "${KPROXY_TEST_NS[@]}"; do ip netns del "$ns" 2>/dev/null || true; done
  KPROXY_TEST_NS=()
}
trap cleanup_namespaces EXIT INT TERM

make_ns() {
  local ns="kproxy-test-$1-$$"
  ip netns add "$ns"
  KPROXY_TEST_NS+=("$ns")
  ip -n "$ns" link set lo up
  echo "$ns"
}

drop_ns() {
  ip netns del "$1"
  local kept=()
  for ns in "${KPROXY_TEST_NS[@]}"; do [ "$ns" = "$1" ] || kept+=("$ns"); done
  KPROXY_TEST_NS=("${kept[@]}")
}

in_ns() {
  local ns="$1"
  shift
  ip netns exec "$ns" "$@"
}
