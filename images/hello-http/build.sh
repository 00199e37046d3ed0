#!/usr/bin/env bash
# Compiles src/hello-http.c statically for each arch into build/hello-http-<arch>:
#   bash images/hello-http/build.sh [ARCH...]     (default: armv6l armv7l aarch64 amd64)
# This machine's own arch is built with gcc, the others with Debian's cross compilers
# (apt-get install gcc-arm-linux-gnueabi gcc-arm-linux-gnueabihf gcc-aarch64-linux-gnu
# gcc-x86-64-linux-gnu). Reproducible: the same source and compiler give the same bytes.
set -euo pipefail
cd "$(dirname "$0")"
export LC_ALL=C

case "$(uname -m)" in
  x86_64) host=amd64 ;;
  aarch64 | arm64) host=aarch64 ;;
  armv7l | armv8l) host=armv7l ;;
  armv6l) host=armv6l ;;
  *) host=none ;;
esac

declare -A cross=([armv6l]=arm-linux-gnueabi-gcc [armv7l]=arm-linux-gnueabihf-gcc [aarch64]=aarch64-linux-gnu-gcc [amd64]=x86_64-linux-gnu-gcc)
declare -A package=([armv6l]=gcc-arm-linux-gnueabi [armv7l]=gcc-arm-linux-gnueabihf [aarch64]=gcc-aarch64-linux-gnu [amd64]=gcc-x86-64-linux-gnu)
# armv6l: Debian's armel libc with ARMv6 code, for the Pi Zero's ARM1176 (Debian's
# armhf is ARMv7, which dies there with SIGILL).
declare -A archflags=([armv6l]="-march=armv6 -marm -mfloat-abi=soft" [armv7l]="" [aarch64]="" [amd64]="")

# -ffile-prefix-map keeps the checkout's path out of the binary; no __DATE__ or __TIME__.
cflags=(-std=c11 -Os -static -s -Wall -Wextra -ffile-prefix-map="$PWD"=.
  -ffunction-sections -fdata-sections -Wl,--gc-sections)

arches=("$@")
[ ${#arches[@]} -gt 0 ] || arches=(armv6l armv7l aarch64 amd64)

mkdir -p build
for arch in "${arches[@]}"; do
  if [ -z "${cross[$arch]+set}" ]; then
    echo "build.sh: unknown arch $arch (armv6l, armv7l, aarch64 or amd64)" >&2
    exit 2
  fi
  cc=${cross[$arch]}
  flags=()
  if [ "$arch" = "$host" ]; then
    cc=gcc
  else
    read -ra flags <<<"${archflags[$arch]}"
  fi
  if ! command -v "$cc" >/dev/null; then
    echo "build.sh: $arch: no $cc (apt-get install ${package[$arch]})" >&2
    exit 1
  fi
  out=build/hello-http-$arch
  # Into a temporary name, renamed: a failed build leaves no half binary.
  "$cc" "${cflags[@]}" "${flags[@]}" -DHELLO_ARCH="\"$arch\"" -o "$out.tmp" src/hello-http.c
  mv -f "$out.tmp" "$out"
  echo "$out"
done
