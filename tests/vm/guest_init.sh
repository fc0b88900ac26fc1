#!/bin/busybox sh
# /init of the IPVS VM guest: mounts, loads the modules, runs the tests named on the kernel
# command line (kproxy.tests=a,b: /src/tests/vm/a.sh /build ...), reports each on the serial
# console as "VM-TEST name rc=N", then "VM-DONE", and powers off.
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
export LD_LIBRARY_PATH=/lib/x86_64-linux-gnu:/usr/lib/x86_64-linux-gnu
export HOME=/tmp TMPDIR=/tmp
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t tmpfs tmp /tmp
mount -t tmpfs run /run
mkdir -p /run/netns /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
echo /sbin/modprobe >/proc/sys/kernel/modprobe
for m in $(cat /etc/modules); do
  modprobe "$m" 2>&1 | sed "s/^/VM-WARN modprobe $m: /"
done
ip link set lo up

tests=$(sed -n 's/.*kproxy\.tests=\([^ ]*\).*/\1/p' /proc/cmdline | tr ',' ' ')
cd /src
for t in $tests; do
  echo "VM-TEST-START $t"
  bash "/src/tests/vm/$t.sh" /build 2>&1
  echo "VM-TEST $t rc=$?"
done
echo "VM-DONE"
sync
poweroff -f
