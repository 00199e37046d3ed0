#!/bin/sh
# Builds hello.c statically for every board the fleet has, into DIR/hello-<arch>
# (default: build/ beside this script), as hello.yaml expects. Debian's cross compilers:
#   apt-get install gcc gcc-arm-linux-gnueabi gcc-arm-linux-gnueabihf gcc-aarch64-linux-gnu
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here/build}
mkdir -p "$out"

build() { # ARCH COMPILER [FLAGS...]
  arch=$1 cc=$2
  shift 2
  if ! command -v "$cc" >/dev/null; then
    echo "build.sh: no $cc for $arch (apt-get install gcc-${cc%-gcc})" >&2
    exit 1
  fi
  "$cc" -std=c11 -Os -static -s -Wall -Wextra -Werror "$@" -o "$out/hello-$arch.tmp" "$here/hello.c"
  mv -f "$out/hello-$arch.tmp" "$out/hello-$arch"
}

# armv6l: Debian's armel libc with ARMv6 code, what a Pi Zero runs.
build armv6l arm-linux-gnueabi-gcc -march=armv6 -marm -mfloat-abi=soft
build armv7l arm-linux-gnueabihf-gcc
build aarch64 aarch64-linux-gnu-gcc
if [ "$(uname -m)" = x86_64 ]; then build amd64 gcc; else build amd64 x86_64-linux-gnu-gcc; fi
