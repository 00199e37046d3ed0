#!/usr/bin/env bash
# Compiles src/hello-http.c statically for each arch into build/hello-http-<arch>:
#   bash images/hello-http/build.sh [ARCH...]     (default: armv6l armv7l aarch64 amd64)
# This machine's own arch is built with gcc, the others with Debian's cross compilers
# (apt-get install gcc-arm-linux-gnueabi gcc-arm-linux-gnueabihf gcc-aarch64-linux-gnu
# gcc-x86-64-linux-gnu). Reproducible: the same source and compiler give the same bytes.
set -euo pipefail
cd "$(dirname "$0")"
export LC_ALL=C

source ../../scripts/lib/cross-cc.sh

# -ffile-prefix-map keeps the checkout's path out of the binary; no __DATE__ or __TIME__.
cflags=(-std=c11 -Os -static -s -Wall -Wextra -ffile-prefix-map="$PWD"=.
  -ffunction-sections -fdata-sections -Wl,--gc-sections)

arches=("$@")
[ ${#arches[@]} -gt 0 ] || arches=("${cross_arches[@]}")

mkdir -p build
for arch in "${arches[@]}"; do
  if ! cross_known "$arch"; then
    echo "build.sh: unknown arch $arch (${cross_arches[*]})" >&2
    exit 2
  fi
  cc=$(cross_cc "$arch")
  read -ra flags <<<"$(cross_flags "$arch")"
  if ! command -v "$cc" >/dev/null; then
    echo "build.sh: $arch: no $cc (apt-get install $(cross_package "$arch"))" >&2
    exit 1
  fi
  out=build/hello-http-$arch
  # Into a temporary name, renamed: a failed build leaves no half binary.
  "$cc" "${cflags[@]}" "${flags[@]}" -DHELLO_ARCH="\"$arch\"" -o "$out.tmp" src/hello-http.c
  mv -f "$out.tmp" "$out"
  echo "$out"
done
