// The os/arch pairs the reference implementation accepts in labels (types.ValidOSArch).
// "arm" alone is never a linux arch: an ARM board runs armv6l, armv7l or aarch64 code,
// and an image labelled "arm" would be run on the wrong one.
export const LINUX_ARCHES = [
  'amd64',
  'i386',
  'aarch64',
  'aarch64_be',
  'armv6l',
  'armv7l',
  'armv7b',
  'ppc64',
  'ppc64le',
  's390x',
] as const;

export const VALID_OS_ARCH: Readonly<Record<string, readonly string[]>> = {
  linux: LINUX_ARCHES,
  freebsd: ['amd64', 'i386', 'arm'],
  darwin: ['x86_64', 'i386'],
};

export function isKnownOs(os: string): boolean {
  return Object.hasOwn(VALID_OS_ARCH, os);
}

export function isValidOsArch(os: string, arch: string): boolean {
  return isKnownOs(os) && (VALID_OS_ARCH[os] ?? []).includes(arch);
}
