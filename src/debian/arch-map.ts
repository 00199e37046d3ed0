import { UserError } from '../util/errors.ts';

// appc arch labels and Debian archs. Debian's armhf needs ARMv7, so armv6l (a Pi Zero
// or Pi 1) maps to armel, the ARMv5-compatible soft-float port. Raspberry Pi OS has its
// own armhf, built for ARMv6 with hard float: with `raspbian`, armv6l maps to that, and
// its armhf images are labelled armv6l since they run on every Pi.

export interface ArchMapOptions {
  /** The repository is Raspberry Pi OS (Raspbian), whose armhf is ARMv6 code. */
  raspbian?: boolean;
}

const TO_DEBIAN: Record<string, string> = { armv6l: 'armel', armv7l: 'armhf', aarch64: 'arm64', amd64: 'amd64' };
const TO_APPC: Record<string, string> = { armel: 'armv6l', armhf: 'armv7l', arm64: 'aarch64', amd64: 'amd64' };

/** The Debian arch whose packages run on an appc arch. */
export function debianArchFor(appcArch: string, opts: ArchMapOptions = {}): string {
  if (opts.raspbian && appcArch === 'armv6l') return 'armhf';
  const arch = Object.hasOwn(TO_DEBIAN, appcArch) ? TO_DEBIAN[appcArch] : undefined;
  if (arch === undefined) {
    throw new UserError(`arch: no Debian arch for appc arch "${appcArch}" (supported: ${Object.keys(TO_DEBIAN).join(', ')})`);
  }
  return arch;
}

/** The appc arch label for an image made of a Debian arch's packages. */
export function appcArchFor(debianArch: string, opts: ArchMapOptions = {}): string {
  if (opts.raspbian && debianArch === 'armhf') return 'armv6l';
  const arch = Object.hasOwn(TO_APPC, debianArch) ? TO_APPC[debianArch] : undefined;
  if (arch === undefined) {
    throw new UserError(`arch: no appc arch for Debian arch "${debianArch}" (supported: ${Object.keys(TO_APPC).join(', ')})`);
  }
  return arch;
}
