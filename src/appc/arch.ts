import { readFileSync } from 'node:fs';
import { machine } from 'node:os';
import { UserError } from '../util/errors.ts';

// The host's appc arch label. Node's process.arch says only "arm", which covers both
// the Pi Zero's ARMv6 core and ARMv7 boards: an armv7l image on a Pi Zero dies with
// SIGILL, so the ARM version comes from the kernel (uname) and the CPU (cpuinfo).

const DIRECT: Record<string, string> = {
  x86_64: 'amd64',
  amd64: 'amd64',
  i386: 'i386',
  i486: 'i386',
  i586: 'i386',
  i686: 'i386',
  aarch64_be: 'aarch64_be',
  armv6l: 'armv6l',
  armv7l: 'armv7l',
  armv7b: 'armv7b',
  // A 32-bit kernel (or a `linux32` personality) on an ARMv8 core runs ARMv7 code.
  armv8l: 'armv7l',
  ppc64: 'ppc64',
  ppc64le: 'ppc64le',
  s390x: 's390x',
};

/**
 * The appc arch for a host, from `uname -m`, the text of /proc/cpuinfo (undefined where
 * there is none, as on macOS) and Node's process.arch, which tells only whether the
 * userland is 32- or 64-bit.
 */
export function appcArchFrom(unameMachine: string, cpuinfo: string | undefined, nodeArch: string): string {
  const m = unameMachine.trim().toLowerCase();
  if (m === 'aarch64' || m === 'arm64') {
    // A 64-bit kernel under a 32-bit userland (Raspberry Pi OS 32-bit on a Pi 3/4)
    // can run only 32-bit images.
    return nodeArch === 'arm' ? arm32FromCpuinfo(cpuinfo) : 'aarch64';
  }
  if (m === 'x86_64' && nodeArch === 'ia32') return 'i386';
  const arch = DIRECT[m];
  if (arch === undefined) throw new UserError(`arch: no appc arch for machine "${unameMachine}"`);
  return arch;
}

// Model name is the only reliable ARMv6 mark: the Pi Zero/1 core (ARM1176) reports
// "CPU architecture: 7" because it uses the v7 CPUID scheme.
function arm32FromCpuinfo(cpuinfo: string | undefined): string {
  if (cpuinfo === undefined) return 'armv7l';
  const model = cpuinfoField(cpuinfo, 'model name') ?? cpuinfoField(cpuinfo, 'Processor') ?? '';
  if (/\bARMv[1-6]\b/i.test(model)) return 'armv6l';
  const cpuArch = cpuinfoField(cpuinfo, 'CPU architecture');
  if (cpuArch !== undefined && /^[1-6]/.test(cpuArch)) return 'armv6l';
  return 'armv7l';
}

function cpuinfoField(cpuinfo: string, field: string): string | undefined {
  for (const line of cpuinfo.split('\n')) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    if (line.slice(0, colon).trim() === field) return line.slice(colon + 1).trim();
  }
  return undefined;
}

/** The running host's appc os and arch labels. */
export function detectHostArch(): { os: string; arch: string } {
  const os = process.platform;
  const arch = appcArchFrom(machine(), readCpuinfo(), process.arch);
  // appc spells macOS's 64-bit Intel arch the Darwin way.
  if (os === 'darwin' && arch === 'amd64') return { os, arch: 'x86_64' };
  return { os, arch };
}

function readCpuinfo(): string | undefined {
  try {
    return readFileSync('/proc/cpuinfo', 'utf8');
  } catch {
    return undefined;
  }
}
