#!/usr/bin/env bash
# kproxy's IPVS and kube-ipvs0 clients against the guest's kernel (ipvs_client_test.cpp), in a
# network namespace of their own.
set -euo pipefail
build=${1:?usage: $0 BUILD_DIR}
ns=kproxy-vm-client-$$
ip netns add "$ns"
trap 'ip netns del "$ns"' EXIT
ip -n "$ns" link set lo up
KPROXY_IN_TEST_NETNS=1 ip netns exec "$ns" "$build/kproxy_ipvs_vm_tests" --gtest_color=no
