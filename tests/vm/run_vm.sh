#!/usr/bin/env bash
# Runs guest tests (tests/vm/NAME.sh) inside Debian's kernel under qemu (TCG: no KVM here) and
# fails unless each reports rc=0 before the time limit. The guest's console is shown as it runs.
# Usage: run_vm.sh BUILD_DIR NAME[,NAME...]   (VM_TIMEOUT seconds, default 540; VM_MEMORY MiB)
set -euo pipefail
here=$(dirname "$(readlink -f "$0")")
build=$(readlink -f "${1:?usage: $0 BUILD_DIR NAME[,NAME...]}")
tests=${2:?}
for tool in qemu-system-x86_64 busybox ipvsadm; do
  command -v "$tool" >/dev/null || { echo "SKIP: $tool missing (scripts/install-deps.sh installs it)"; exit 77; }
done
cache="$build/vm"
mkdir -p "$cache"
tree=$("$here/fetch_kernel.sh" "$cache")
version=$(ls "$tree/lib/modules")
start=$SECONDS
"$here/build_initramfs.sh" "$tree" "$build" "$cache/initramfs.cpio.gz"
echo "vm: initramfs $(( $(stat -c %s "$cache/initramfs.cpio.gz") / 1048576 )) MiB in $((SECONDS - start)) s; booting $version"

log="$cache/console.log"
start=$SECONDS
set +e
timeout "${VM_TIMEOUT:-540}" qemu-system-x86_64 -accel tcg,thread=multi -smp 2 -m "${VM_MEMORY:-2048}" \
  -display none -monitor none -serial stdio -no-reboot -nic none \
  -kernel "$tree/boot/vmlinuz-$version" -initrd "$cache/initramfs.cpio.gz" \
  -append "console=ttyS0 quiet loglevel=3 panic=-1 kproxy.tests=$tests" </dev/null | tr -d '\r' | tee "$log"
qemu_rc=${PIPESTATUS[0]}
set -e
echo "vm: guest ran $((SECONDS - start)) s (qemu exit $qemu_rc)"

failed=0
for t in ${tests//,/ }; do
  rc=$(sed -n "s/^VM-TEST $t rc=\([0-9]*\)$/\1/p" "$log" | tail -1)
  if [ "$rc" = 0 ]; then echo "vm: $t passed"
  else echo "vm: $t FAILED (${rc:-no result})"; failed=1; fi
done
grep -q '^VM-DONE' "$log" || { echo "vm: the guest did not finish (timeout or crash)"; failed=1; }
exit $failed
