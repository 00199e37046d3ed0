#!/usr/bin/env bash
# The C compiler for each arch rkt-arm builds static binaries for, in one place:
# this machine's own arch is built with gcc, the others with Debian's cross compilers.
# Sourced by scripts/build-stage1.sh and images/hello-http/build.sh (functions below);
# run as `bash scripts/lib/cross-cc.sh` it prints "ARCH CC [FLAGS...]" per line, which
# is how test/helpers/pods.ts reads the same table.

cross_arches=(armv6l armv7l aarch64 amd64)

declare -A cross_triplet=([armv6l]=arm-linux-gnueabi [armv7l]=arm-linux-gnueabihf [aarch64]=aarch64-linux-gnu [amd64]=x86_64-linux-gnu)
# armv6l: Debian's armel libc (ARMv5TE soft-float) with ARMv6 code, for the Pi Zero's
# ARM1176; Debian's armhf is ARMv7 and dies with SIGILL there.
declare -A cross_archflags=([armv6l]="-march=armv6 -marm -mfloat-abi=soft" [armv7l]="" [aarch64]="" [amd64]="")

case "$(uname -m)" in
  x86_64) cross_host=amd64 ;;
  aarch64 | arm64) cross_host=aarch64 ;;
  armv7l | armv8l) cross_host=armv7l ;;
  armv6l) cross_host=armv6l ;;
  *) cross_host=none ;;
esac

# Whether ARCH is one of cross_arches.
cross_known() {
  [ -n "${cross_triplet[$1]+set}" ]
}

# The compiler command for ARCH.
cross_cc() {
  if [ "$1" = "$cross_host" ]; then echo gcc; else echo "${cross_triplet[$1]}-gcc"; fi
}

# The extra flags for ARCH on one line, for `read -ra` (none for the host: its gcc's
# defaults are right for it).
cross_flags() {
  if [ "$1" = "$cross_host" ]; then echo; else echo "${cross_archflags[$1]}"; fi
}

# The Debian package that has ARCH's compiler.
cross_package() {
  if [ "$1" = "$cross_host" ]; then echo gcc; else echo "gcc-${cross_triplet[$1]//_/-}"; fi
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  for arch in "${cross_arches[@]}"; do
    echo "$arch $(cross_cc "$arch") $(cross_flags "$arch")"
  done
fi
