#!/usr/bin/env bash
# Builds the stage1 init (native/) statically for every arch whose compiler is here,
# into .cache/native/<arch>/init, then the stage1 images from stage1-arm/stage1.yaml
# with `actool cross` into dist/stage1-<arch>.aci. Run after scripts/bundle.mjs (it
# needs dist/actool). Same sources, same compilers: same bytes.
set -euo pipefail
cd "$(dirname "$0")/.."
export LC_ALL=C

spec=stage1-arm/stage1.yaml
cache=.cache/native

source scripts/lib/cross-cc.sh

# -ffile-prefix-map keeps the checkout's path out of the binary (__FILE__, debug info);
# nothing in native/ uses __DATE__ or __TIME__.
cflags=(-std=c11 -Os -static -s -Wall -Wextra -Werror -ffile-prefix-map="$PWD"=.
  -ffunction-sections -fdata-sections -Wl,--gc-sections)

# Compiles into a temporary name and renames, so a failed build leaves no half binary.
build_init() {
  local arch=$1 cc=$2 out=$cache/$1/init
  local flags
  read -ra flags <<<"$(cross_flags "$arch")"
  mkdir -p "$cache/$arch"
  "$cc" "${cflags[@]}" "${flags[@]}" -o "$out.tmp" native/*.c
  mv -f "$out.tmp" "$out"
}

# The Pi Zero check: the armv6l init must run on an ARM1176 (it prints its usage line).
check_armv6() {
  local qemu
  qemu=$(command -v qemu-arm-static || command -v qemu-arm || true)
  if [ -z "$qemu" ]; then
    echo "build-stage1: armv6l: not checked on an emulated ARM1176 (apt-get install qemu-user-static)" >&2
    return
  fi
  local said
  said=$("$qemu" -cpu arm1176 "$cache/armv6l/init" 2>&1 || true)
  if [[ "$said" != "stage1: usage"* ]]; then
    echo "build-stage1: armv6l: $cache/armv6l/init does not run on an ARM1176 (qemu -cpu arm1176)" >&2
    exit 1
  fi
}

built=()
for arch in "${cross_arches[@]}"; do
  cc=$(cross_cc "$arch")
  if ! command -v "$cc" >/dev/null; then
    echo "build-stage1: $arch: skipped, no $cc (apt-get install $(cross_package "$arch"))" >&2
    # Nothing built from older sources may pass for this build's.
    rm -rf "${cache:?}/$arch" "dist/stage1-$arch.aci"
    continue
  fi
  build_init "$arch" "$cc"
  [ "$arch" = armv6l ] && check_armv6
  built+=("$arch")
done
if [ "${#built[@]}" = 0 ]; then
  echo "build-stage1: no compiler for any arch (apt-get install gcc, or a gcc-<triplet> cross compiler)" >&2
  exit 1
fi

if [ ! -f dist/actool ]; then
  echo "build-stage1: no dist/actool: run node scripts/bundle.mjs first" >&2
  exit 1
fi

# The spec names its version (a spec cannot read package.json): it must be the project's.
version=$(node -p 'require("./package.json").version')
spec_version=$(sed -n 's/^version: *"\(.*\)".*/\1/p' "$spec")
if [ "$spec_version" != "$version" ]; then
  echo "build-stage1: $spec has version \"$spec_version\", package.json \"$version\": make them the same" >&2
  exit 1
fi

# The mount points of the stage1 root are copies of this empty directory (see the spec).
mkdir -p "$cache/empty"

# Reproducible images: every time in them is clamped to SOURCE_DATE_EPOCH. The last
# commit that touched the inputs changes exactly when they do, unlike the clock or a
# checkout's mtimes; outside a git checkout (a release tarball) a constant stands in,
# 2025-01-01, so the bytes still depend on nothing but the sources.
if [ -z "${SOURCE_DATE_EPOCH:-}" ]; then
  SOURCE_DATE_EPOCH=$(git log -1 --format=%ct -- native stage1-arm 2>/dev/null || true)
  SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-1735689600}
fi
export SOURCE_DATE_EPOCH

tmp=$(mktemp -d "${TMPDIR:-/tmp}/build-stage1.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
arches=$(IFS=,; echo "${built[*]}")
node dist/actool cross "$spec" --out "$tmp/site" --arch "$arches" >/dev/null

mkdir -p dist
for arch in "${built[@]}"; do
  aci=$tmp/site/rkt-arm/stage1-$version-linux-$arch.aci
  cp "$aci" "dist/.stage1-$arch.aci.tmp"
  mv -f "dist/.stage1-$arch.aci.tmp" "dist/stage1-$arch.aci"
  echo "build-stage1: dist/stage1-$arch.aci ($(stat -c %s "dist/stage1-$arch.aci") bytes, init $(stat -c %s "$cache/$arch/init") bytes)"
done
