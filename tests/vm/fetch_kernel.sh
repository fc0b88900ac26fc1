#!/usr/bin/env bash
# Fetches Debian's own kernel (the package linux-image-amd64 points at) into CACHE without
# installing it on this machine: the IPVS and dummy modules the development kernel lacks.
# Usage: fetch_kernel.sh CACHE. Prints the unpacked tree's path; its lib/modules/<version>
# carries a modules.dep made by busybox depmod (the package ships none, depmod makes it on install).
set -euo pipefail
cache=${1:?usage: $0 CACHE}
mkdir -p "$cache"
cache=$(readlink -f "$cache")

pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-/ {print $2; exit}')
if [ -z "$pkg" ]; then
  apt-get update -qq >/dev/null
  pkg=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-/ {print $2; exit}')
fi
[ -n "$pkg" ] || { echo "fetch_kernel: no linux-image-amd64 in apt's lists" >&2; exit 1; }
tree="$cache/$pkg"
if [ ! -f "$tree/.done" ]; then
  rm -rf "$tree" "$cache"/dl
  mkdir -p "$cache/dl"
  # apt's sandbox user cannot write into a root-owned build dir; the download is checked by apt.
  (cd "$cache/dl" && apt-get download -qq -o APT::Sandbox::User=root "$pkg" >/dev/null)
  dpkg-deb -x "$cache"/dl/"$pkg"_*.deb "$tree"
  rm -rf "$cache/dl"
  version=$(ls "$tree/lib/modules")
  busybox depmod -b "$tree" "$version"
  touch "$tree/.done"
fi
echo "$tree"
