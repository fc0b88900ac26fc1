#!/usr/bin/env bash
# deploy/Dockerfile's runtime stage installs the Debian package of every shared library the
# kproxy binary needs directly (ELF NEEDED), besides the C and C++ runtimes of the base image.
# Usage: runtime_libs_test.sh KPROXY_BINARY DOCKERFILE
set -euo pipefail
trap 'echo "FAIL: line $LINENO: $BASH_COMMAND exited $?"' ERR
bin=${1:?usage: $0 KPROXY_BINARY DOCKERFILE}
dockerfile=${2:?usage: $0 KPROXY_BINARY DOCKERFILE}
for tool in readelf ldconfig dpkg; do command -v "$tool" >/dev/null || { echo "SKIP: $tool missing"; exit 77; }; done
runtime=$(awk '/^FROM /{stage++} stage == 2' "$dockerfile")
[ -n "$runtime" ] || { echo "FAIL: no second (runtime) stage in $dockerfile"; exit 1; }
missing=0
for lib in $(readelf -d "$bin" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
  # awk reads to the end: an early exit would SIGPIPE ldconfig, a failure under pipefail.
  path=$(ldconfig -p | awk -v l="$lib" '$1 == l && p == "" { p = $NF } END { print p }')
  # dpkg knows a file by the path its package ships (usrmerge: /lib/... or /usr/lib/...).
  pkg=$( { dpkg -S "$path" 2>/dev/null || dpkg -S "$(readlink -f "$path")" 2>/dev/null || true; } | head -1 | cut -d: -f1)
  case $pkg in libc6 | libstdc++6 | libgcc-s1 | "") continue ;; esac
  if grep -qw -- "$pkg" <<<"$runtime"; then echo "ok   $lib from $pkg"
  else echo "FAIL $lib: its package $pkg is not installed by the runtime stage"; missing=$((missing + 1)); fi
done
[ "$missing" = 0 ]
