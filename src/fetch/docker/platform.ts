import { runnableArchs } from '../../appc/compatible-arch.ts';
import type { Host } from '../match.ts';

// OCI platforms (os, architecture, variant) as appc os/arch labels, and the choice of
// one manifest from an index (a Docker manifest list or an OCI image index). Pure.
//
//   OCI                    appc      notes
//   amd64                  amd64
//   arm64, arm64/v8        aarch64
//   arm/v7, arm (bare)     armv7l    a bare "arm" means v7, as Docker and containerd read it
//   arm/v6                 armv6l
//   arm/v5                 armv6l    ARMv5 code runs on an ARMv6 core; v6 is preferred when both exist
//   386                    i386
//   ppc64le, s390x         the same
//
// A host takes the entries it can run in compatible-arch.ts's order (its own arch
// first): an armv6l board (Pi Zero/1) never takes arm/v7, which would die with SIGILL.

export interface OciPlatform {
  os: string;
  architecture: string;
  variant?: string;
}

export interface AppcPlatform {
  os: string;
  arch: string;
}

/** The appc os/arch of an OCI platform, or undefined when appc has no arch for it. */
export function appcPlatform(p: OciPlatform): AppcPlatform | undefined {
  const arch = appcArch(p.architecture, p.variant ?? '');
  return arch === undefined ? undefined : { os: p.os, arch };
}

function appcArch(architecture: string, variant: string): string | undefined {
  switch (architecture) {
    case 'amd64':
      return variant === '' || /^v[1-4]$/.test(variant) ? 'amd64' : undefined;
    case 'arm64':
      return variant === '' || variant === 'v8' ? 'aarch64' : undefined;
    case 'arm':
      if (variant === '' || variant === 'v7') return 'armv7l';
      if (variant === 'v6' || variant === 'v5') return 'armv6l';
      return undefined;
    case '386':
      return 'i386';
    case 'ppc64le':
    case 's390x':
      return architecture;
    default:
      return undefined;
  }
}

/** "linux/arm/v7". */
export function platformText(p: OciPlatform): string {
  return [p.os, p.architecture, p.variant].filter((s) => s !== undefined && s !== '').join('/');
}

/** One entry of an index, as far as choosing goes. */
export interface IndexEntry {
  platform?: OciPlatform;
}

/**
 * The entry of an index that `host` should run, or why there is none. Entries whose os
 * is "unknown" (BuildKit's attestations) are not images and are neither chosen nor listed.
 */
export function choosePlatform<T extends IndexEntry>(what: string, entries: readonly T[], host: Host): { entry: T } | { problem: string } {
  const images = entries.filter((e) => e.platform !== undefined && e.platform.os !== 'unknown');
  const order = runnableArchs(host.arch);
  let best: { entry: T; rank: number } | undefined;
  for (const entry of images) {
    const appc = appcPlatform(entry.platform!);
    if (!appc || appc.os !== host.os) continue;
    const at = order.indexOf(appc.arch);
    if (at < 0) continue;
    // Within one appc arch, the exact variant beats an older one (arm/v6 before arm/v5).
    const rank = at * 2 + (entry.platform!.variant === 'v5' ? 1 : 0);
    if (!best || rank < best.rank) best = { entry, rank };
  }
  if (best) return { entry: best.entry };
  const available = [...new Set(images.map((e) => platformText(e.platform!)))];
  const runs = order.flatMap((arch) => ociNamesOf(arch)).map((p) => `${host.os}/${p}`);
  return {
    problem:
      `${what} has no image this ${host.os}/${host.arch} board can run: it has ${available.length > 0 ? available.join(', ') : 'no platform-specific images'}` +
      `; this board runs ${runs.join(', ')}`,
  };
}

/** The OCI spellings of an appc arch, for messages. */
function ociNamesOf(arch: string): string[] {
  switch (arch) {
    case 'aarch64':
      return ['arm64'];
    case 'armv7l':
      return ['arm/v7'];
    case 'armv6l':
      return ['arm/v6', 'arm/v5'];
    case 'i386':
      return ['386'];
    default:
      return [arch];
  }
}
