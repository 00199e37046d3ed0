// Which image archs (appc arch labels) a host of a given arch can run natively. Kept
// conservative: an image that starts but dies with SIGILL halfway through its work is
// worse than a refusal at fetch time.
//
//   host      runs
//   aarch64   aarch64, armv7l, armv6l   a 64-bit ARM kernel runs 32-bit ARM code
//                                       (AArch32 at EL0 on every Pi 3/4/5 core;
//                                       some server and Apple cores lack it)
//   armv7l    armv7l, armv6l            ARMv7 executes ARMv6 code
//   armv6l    armv6l                    a Pi Zero/1 dies on ARMv7 instructions
//   amd64     amd64                     i386 would need the kernel's IA32 emulation
//                                       and is not what a fetch of "this host" means
//   other     itself
//
// Big-endian armv7b and aarch64_be run only themselves: the endianness differs.

const RUNS: Record<string, readonly string[]> = {
  aarch64: ['aarch64', 'armv7l', 'armv6l'],
  armv7l: ['armv7l', 'armv6l'],
  armv6l: ['armv6l'],
  amd64: ['amd64'],
};

/** The archs a host of `hostArch` runs, its own first. */
export function runnableArchs(hostArch: string): readonly string[] {
  return RUNS[hostArch] ?? [hostArch];
}

export function canRunArch(hostArch: string, imageArch: string): boolean {
  return runnableArchs(hostArch).includes(imageArch);
}
