#!/usr/bin/env bash
# Installs the Debian packages the test suite uses, only when something is missing,
# so a developer's machine that has them is not touched.
set -euo pipefail
packages=(bzip2 xz-utils gzip pigz tar util-linux bsdutils openssl coreutils gnupg curl dpkg-dev zstd
  gcc libc6-dev qemu-user-static binfmt-support busybox-static
  docker-registry skopeo umoci
  containernetworking-plugins iproute2 iptables)
commands=(bzip2 xz gzip pigz tar setpriv openssl sha512sum gpg curl script flock mknod dpkg-deb dpkg-scanpackages zstd
  gcc unshare qemu-arm-static qemu-aarch64-static update-binfmts busybox
  docker-registry skopeo umoci
  ip iptables iptables-save)
# The CNI plugins the networking tests use (test/pod/net.test.ts), from containernetworking-plugins.
files=(/usr/lib/cni/ptp /usr/lib/cni/host-local /usr/lib/cni/portmap /usr/lib/cni/bridge /usr/lib/cni/loopback)

# The stage1 init (scripts/build-stage1.sh) is cross-compiled for the ARM arches; the
# host's own arch is built with gcc, and Debian has no cross package for it.
host=$(dpkg --print-architecture 2>/dev/null || echo unknown)
for cross in armel:arm-linux-gnueabi armhf:arm-linux-gnueabihf arm64:aarch64-linux-gnu; do
  debarch=${cross%%:*} triplet=${cross#*:}
  [ "$debarch" = "$host" ] && continue
  packages+=("gcc-$triplet" "libc6-dev-$debarch-cross")
  commands+=("$triplet-gcc")
  files+=("/usr/$triplet/lib/libc.a")
done

missing=0
for c in "${commands[@]}"; do command -v "$c" >/dev/null || missing=1; done
for f in "${files[@]}"; do [ -e "$f" ] || missing=1; done
if [ "$missing" = 1 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "install-test-deps: missing tools; run as root or: apt-get install ${packages[*]}" >&2
    exit 1
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${packages[@]}"
fi

# The ARM stage1 inits are tested under qemu-user through binfmt_misc: the handlers must
# be registered and enabled. Only root can; the tests skip the ARM arches otherwise.
binfmt=/proc/sys/fs/binfmt_misc
if [ "$(id -u)" = 0 ]; then
  if [ ! -e "$binfmt/register" ]; then
    mount -t binfmt_misc binfmt_misc "$binfmt" ||
      echo "install-test-deps: cannot mount binfmt_misc; ARM stage1 tests will be skipped" >&2
  fi
  for handler in qemu-arm qemu-aarch64; do
    state=$(head -n1 "$binfmt/$handler" 2>/dev/null || true)
    [ "$state" = enabled ] && continue
    # update-binfmts registers a missing handler, but calls a registered, disabled one
    # "already enabled" and leaves it: that one is switched on by hand.
    if [ "$state" = disabled ]; then
      echo 1 >"$binfmt/$handler"
    elif ! said=$(update-binfmts --enable "$handler" 2>&1) && [[ "$said" != *"already enabled"* ]]; then
      echo "install-test-deps: update-binfmts --enable $handler: ${said//$'\n'/ }; ARM stage1 tests will be skipped" >&2
    fi
  done
fi
