#!/usr/bin/env bash
# Packs the guest of the IPVS VM tests: busybox, the real tools the tests drive (bash, ip,
# iptables, ipset, ipvsadm, nft, conntrack) and kproxy's binaries, each with its shared
# libraries; the kernel modules they need (closure over modules.dep); the test scripts; /init.
# Usage: build_initramfs.sh KERNEL_TREE BUILD_DIR OUT.cpio.gz
set -euo pipefail
here=$(dirname "$(readlink -f "$0")")
src=$(readlink -f "$here/../..")
tree=$(readlink -f "${1:?usage: $0 KERNEL_TREE BUILD_DIR OUT}")
build=$(readlink -f "${2:?}")
out=${3:?}
version=$(ls "$tree/lib/modules")
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT

mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,etc,proc,sys,dev,tmp,run,var,build,src,lib64}
ln -s ../run "$root/var/run"
# libipset and iptables resolve protocol names ("tcp:80") through /etc/protocols (netbase).
cp /etc/protocols /etc/services "$root/etc/"
cp "$(command -v busybox)" "$root/bin/busybox"
for applet in $(busybox --list); do [ "$applet" = busybox ] || ln -sf busybox "$root/bin/$applet"; done

declare -A copied=()
copy_libs() {  # the shared libraries of an ELF file, at the paths the loader reports
  local lib
  for lib in $(ldd "$1" 2>/dev/null | awk '{for (i = 1; i <= NF; i++) if ($i ~ /^\//) print $i}'); do
    [ -n "${copied[$lib]:-}" ] && continue
    copied[$lib]=1
    mkdir -p "$root$(dirname "$lib")"
    cp -L "$lib" "$root$lib"
  done
}
copy_bin() {  # NAME: the host's tool, and its multi-call target when it is a symlink to one
  local path real
  path=$(command -v "$1") || { echo "build_initramfs: $1 missing on the host" >&2; exit 1; }
  real=$(readlink -f "$path")
  mkdir -p "$root$(dirname "$real")"
  [ -e "$root$real" ] || { cp "$real" "$root$real"; copy_libs "$real"; }
  if [ "$real" != "/usr/sbin/$1" ] && [ "$real" != "/usr/bin/$1" ]; then
    ln -sf "$real" "$root/usr/sbin/$1"
  fi
}
for tool in bash ip ipset ipvsadm nft conntrack date sysctl \
            iptables iptables-save iptables-restore ip6tables ip6tables-save ip6tables-restore \
            iptables-nft iptables-nft-save iptables-nft-restore ip6tables-nft ip6tables-nft-save ip6tables-nft-restore \
            iptables-legacy iptables-legacy-save iptables-legacy-restore \
            ip6tables-legacy ip6tables-legacy-save ip6tables-legacy-restore; do
  copy_bin "$tool"
done
# iptables' match and target extensions are loaded at run time.
xt=/usr/lib/x86_64-linux-gnu/xtables
mkdir -p "$root$xt"
cp "$xt"/*.so "$root$xt/"
for so in "$xt"/*.so; do copy_libs "$so"; done

# kproxy's binaries, without debug info (a quarter of the size; the guest has no debugger).
for b in kproxy kproxy-testserver kproxy-testclient kproxy_ipvs_vm_tests ipvs_bench; do
  [ -x "$build/$b" ] || continue
  objcopy --strip-debug "$build/$b" "$root/build/$b"
  copy_libs "$build/$b"
done
mkdir -p "$root/src/tests"
cp -r "$src/tests/integration" "$src/tests/vm" "$root/src/tests/"

# Modules: what the tests load, with everything they depend on.
mods="$tree/lib/modules/$version"
mkdir -p "$root/lib/modules/$version"
cp "$mods"/modules.{dep,alias,symbols,builtin,order} "$root/lib/modules/$version/" 2>/dev/null || true
want=$(awk '!/^#/ && NF {print $1}' "$here/guest_modules")
declare -A have=()
add_module() {  # a module name; copies its .ko and those it depends on
  local name=$1 line path dep
  line=$(grep -E "(^|/)${name//_/[_-]}\.ko(\.[a-z]+)?:" "$mods/modules.dep" | head -1) || true
  [ -n "$line" ] || { echo "build_initramfs: module $name not in $version" >&2; return 1; }
  for path in ${line//:/ }; do
    [ -n "${have[$path]:-}" ] && continue
    have[$path]=1
    mkdir -p "$root/lib/modules/$version/$(dirname "$path")"
    cp "$mods/$path" "$root/lib/modules/$version/$path"
  done
}
for m in $want; do add_module "$m"; done
printf '%s\n' $want >"$root/etc/modules"

cp "$here/guest_init.sh" "$root/init"
chmod +x "$root/init"
(cd "$root" && find . | busybox cpio -o -H newc 2>/dev/null | gzip -1) >"$out"
