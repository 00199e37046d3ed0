#!/usr/bin/env bash
# Installs the Debian packages the test suite uses, only when something is missing,
# so a developer's machine that has them is not touched.
set -euo pipefail
packages=(bzip2 xz-utils gzip pigz tar util-linux bsdutils openssl coreutils gnupg curl dpkg-dev zstd)
commands=(bzip2 xz gzip pigz tar setpriv openssl sha512sum gpg curl script flock mkfifo dpkg-deb dpkg-scanpackages zstd)
missing=0
for c in "${commands[@]}"; do command -v "$c" >/dev/null || missing=1; done
if [ "$missing" = 1 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "install-test-deps: missing tools; run as root or: apt-get install ${packages[*]}" >&2
    exit 1
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${packages[@]}"
fi
