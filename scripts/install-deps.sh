#!/usr/bin/env bash
# Installs kproxy's build and test dependencies from Debian's packages; a no-op when all are present.
set -euo pipefail

pkgs=(
  build-essential cmake pkg-config
  # core libraries
  libcurl4-openssl-dev nlohmann-json3-dev libyaml-cpp-dev libyaml-dev libboost-dev libssl-dev
  # the API server's protobuf: the library, protoc, and Python's for the test API server
  libprotobuf-dev protobuf-compiler python3-protobuf
  # kernel clients (netlink, nftables, ipset, conntrack)
  libnl-3-dev libnl-genl-3-dev libnl-route-3-dev libmnl-dev libnftnl-dev libipset-dev
  libnetfilter-conntrack-dev
  # eBPF mode: BPF programs compiled by clang (below) for the bpf target, skeletons by bpftool,
  # loaded with libbpf
  libbpf-dev bpftool libelf-dev zlib1g-dev
  # tests and benchmarks; clang's libFuzzer for the fuzz targets (make fuzz)
  libgtest-dev libgmock-dev libbenchmark-dev clang libclang-rt-14-dev
  # the real kernel tools the root tests drive
  iptables ipset iproute2 conntrack procps nftables util-linux
  # the test API server (python3), its certificates (openssl), control calls (curl)
  python3 openssl curl
  # the IPVS tests in a VM (tests/vm): the emulator, the guest's shell, ipvsadm to compare with
  qemu-system-x86 busybox-static ipvsadm
)

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: missing packages: ${missing[*]}; run as root or install them with apt-get" >&2
  exit 1
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
