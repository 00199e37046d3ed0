import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { overlayEscape } from '../stage0/mount-plan.ts';
import { UserError, describeError } from '../util/errors.ts';
import { ffiStatus } from './ffi.ts';
import { MNT_DETACH, mount, umount2 } from './linux.ts';

// What the running kernel offers a pod, each probe cheap and each missing feature
// with a one-line reason a user can act on: overlayfs (else pods are copies),
// namespaces, cgroup controllers, and binfmt_misc handlers (qemu-user) for foreign
// arches. The parsing is in pure functions of the text, tested on their own.

export type Probe = { ok: true } | { ok: false; reason: string };

const OK: Probe = { ok: true };
const missing = (reason: string): Probe => ({ ok: false, reason });

// ---- overlayfs -------------------------------------------------------------------

/** Filesystem types from the text of /proc/filesystems. */
export function parseFilesystems(text: string): Set<string> {
  const types = new Set<string>();
  for (const line of text.split('\n')) {
    const fields = line.trim().split(/\s+/);
    const type = fields[fields.length - 1];
    if (type) types.add(type);
  }
  return types;
}

/**
 * Whether overlayfs works for a pod under `dir` (a directory on the pod's filesystem):
 * the kernel lists it, and a trial mount of a tiny lower/upper/work there works and
 * hides a deleted lower file. That catches a filesystem overlay refuses as upper
 * (overlay on overlay, some FUSE) and one without d_type (xfs with ftype=0), where
 * whiteouts show through. Needs root; the trial is unmounted and removed. Where koffi
 * cannot load (a Pi Zero) it is mounted with util-linux's mount(8) instead.
 */
export function overlaySupport(dir: string): { ok: true } | { ok: false; reason: string } {
  let filesystems: Set<string>;
  try {
    filesystems = parseFilesystems(readFileSync('/proc/filesystems', 'utf8'));
  } catch (err) {
    return missing(`cannot read /proc/filesystems: ${describeError(err)}`);
  }
  if (!filesystems.has('overlay')) return missing('the kernel has no overlay filesystem (try `modprobe overlay`)');
  let trial: string;
  try {
    trial = mkdtempSync(join(dir, '.overlay-probe-'));
  } catch (err) {
    return missing(`cannot make a trial directory: ${describeError(err)}`);
  }
  try {
    return trialMount(dir, trial);
  } finally {
    rmSync(trial, { recursive: true, force: true });
  }
}

function trialMount(dir: string, trial: string): Probe {
  const [lower, upper, work, merged] = ['lower', 'upper', 'work', 'merged'].map((d) => join(trial, d)) as [string, string, string, string];
  for (const d of [lower, upper, work, merged]) mkdirSync(d);
  mkdirSync(join(lower, 'd'));
  writeFileSync(join(lower, 'd', 'f'), '');
  const mounter = trialMounter();
  try {
    mounter.mount(merged, `lowerdir=${overlayEscape(lower)},upperdir=${overlayEscape(upper)},workdir=${overlayEscape(work)}`);
  } catch (err) {
    if (err instanceof UserError) return missing(err.message);
    const code = (err as NodeJS.ErrnoException).code;
    const why =
      code === 'EPERM'
        ? 'mounting needs root'
        : code === 'EINVAL'
          ? `the kernel refuses this filesystem as an upper layer, as on an overlay or FUSE (${describeError(err)})`
          : describeError(err);
    return missing(`a trial overlay on ${dir} failed: ${why}`);
  }
  try {
    unlinkSync(join(merged, 'd', 'f'));
    if (readdirSync(join(merged, 'd')).length !== 0) {
      return missing(`deleted files show through a trial overlay on ${dir}: the filesystem lacks d_type (xfs with ftype=0?)`);
    }
    return OK;
  } catch (err) {
    return missing(`a trial overlay on ${dir} failed: ${describeError(err)}`);
  } finally {
    mounter.unmount(merged);
  }
}

interface TrialMounter {
  /** Mounts an overlay with `data` at `target`; throws a system error, or a UserError without FFI or mount(8). */
  mount(target: string, data: string): void;
  /** Unmounts it, lazily if it is busy. */
  unmount(target: string): void;
}

/** mount(2) through FFI, or where koffi cannot load (a Pi Zero), util-linux's mount(8) and umount(8). */
function trialMounter(): TrialMounter {
  if (!ffiStatus().available) return utilMounter;
  return {
    mount: (target, data) => mount('overlay', target, 'overlay', 0, data),
    unmount(target) {
      try {
        umount2(target);
      } catch {
        umount2(target, MNT_DETACH);
      }
    },
  };
}

const utilMounter: TrialMounter = {
  mount(target, data) {
    util('mount', ['-t', 'overlay', '-o', data, 'overlay', target]);
  },
  unmount(target) {
    try {
      util('umount', [target]);
    } catch {
      util('umount', ['--lazy', target]);
    }
  },
};

/** What mount(8) says (in the C locale) for the errors trialMount explains, by errno code. */
const UTIL_ERRORS: [RegExp, string][] = [
  [/must be superuser|permission denied|operation not permitted/i, 'EPERM'],
  [/wrong fs type|bad option|invalid argument/i, 'EINVAL'],
];

/** Runs a util-linux command; its first line of stderr becomes the error, with an errno code where it names one. */
function util(command: string, args: string[]): void {
  const r = spawnSync(command, args, { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8', env: { ...process.env, LC_ALL: 'C' } });
  if ((r.error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT') {
    throw new UserError(`without FFI the trial mount needs ${command}(8), which is not installed; install util-linux`);
  }
  if (r.error) throw r.error;
  if (r.status === 0) return;
  const said = r.stderr.trim().split('\n')[0] || `exit status ${r.status ?? r.signal}`;
  const code = UTIL_ERRORS.find(([pattern]) => pattern.test(said))?.[1];
  throw Object.assign(new Error(`${command}(8): ${said}`), code ? { code } : {});
}

// ---- namespaces ----------------------------------------------------------------

export const NAMESPACES = ['mnt', 'uts', 'ipc', 'pid', 'net'] as const;

const NAMESPACE_OPTION: Record<(typeof NAMESPACES)[number], string> = {
  mnt: 'CONFIG_NAMESPACES',
  uts: 'CONFIG_UTS_NS',
  ipc: 'CONFIG_IPC_NS',
  pid: 'CONFIG_PID_NS',
  net: 'CONFIG_NET_NS',
};

export function namespaceSupport(procSelf = '/proc/self'): Probe {
  const absent = NAMESPACES.filter((ns) => !existsSync(join(procSelf, 'ns', ns)));
  if (absent.length === 0) return OK;
  const options = [...new Set(absent.map((ns) => NAMESPACE_OPTION[ns]))];
  return missing(`the kernel lacks ${absent.join(', ')} namespaces (${options.join(', ')})`);
}

// ---- cgroups -------------------------------------------------------------------

export interface CgroupController {
  name: string;
  hierarchy: number;
  enabled: boolean;
}

/** The controllers of /proc/cgroups ("#subsys_name hierarchy num_cgroups enabled"). */
export function parseProcCgroups(text: string): CgroupController[] {
  const controllers: CgroupController[] = [];
  for (const line of text.split('\n')) {
    if (line.startsWith('#') || line.trim() === '') continue;
    const [name, hierarchy, , enabled] = line.trim().split(/\s+/);
    if (name === undefined || enabled === undefined) continue;
    controllers.push({ name, hierarchy: Number(hierarchy), enabled: enabled === '1' });
  }
  return controllers;
}

export type CgroupVersion = 'v1' | 'v2' | 'hybrid' | 'none';

export interface CgroupSupport {
  version: CgroupVersion;
  memory: Probe;
  cpu: Probe;
}

/** v2 when /sys/fs/cgroup is the unified hierarchy, hybrid with v1 controllers beside a v2 mount. */
export function cgroupVersion(root = '/sys/fs/cgroup'): CgroupVersion {
  if (existsSync(join(root, 'cgroup.controllers'))) return 'v2';
  let entries: string[];
  try {
    entries = readdirSync(root);
  } catch {
    return 'none';
  }
  if (entries.length === 0) return 'none';
  return existsSync(join(root, 'unified', 'cgroup.controllers')) ? 'hybrid' : 'v1';
}

export function cgroupSupport(procCgroups = '/proc/cgroups', root = '/sys/fs/cgroup'): CgroupSupport {
  const version = cgroupVersion(root);
  let controllers: CgroupController[];
  try {
    controllers = parseProcCgroups(readFileSync(procCgroups, 'utf8'));
  } catch (err) {
    const reason = `cannot read ${procCgroups}: ${describeError(err)}`;
    return { version, memory: missing(reason), cpu: missing(reason) };
  }
  return { version, memory: controllerProbe(controllers, 'memory'), cpu: controllerProbe(controllers, 'cpu') };
}

/** Whether a controller is enabled, by /proc/cgroups; the reason says how to enable it. */
export function controllerProbe(controllers: readonly CgroupController[], name: string): Probe {
  const c = controllers.find((x) => x.name === name);
  if (!c) return missing(`the kernel has no ${name} cgroup controller`);
  if (c.enabled) return OK;
  const hint = name === 'memory' ? ' (on a Raspberry Pi add cgroup_enable=memory cgroup_memory=1 to cmdline.txt)' : ` (cgroup_enable=${name} on the kernel command line)`;
  return missing(`the ${name} cgroup controller is disabled${hint}`);
}

// ---- binfmt_misc ---------------------------------------------------------------

export interface BinfmtEntry {
  enabled: boolean;
  interpreter: string;
  flags: string;
  offset: number;
  /** Magic entries; an extension entry has neither. */
  magic?: Buffer;
  mask?: Buffer;
  extension?: string;
}

/** One /proc/sys/fs/binfmt_misc/<name> file. */
export function parseBinfmtEntry(text: string): BinfmtEntry {
  const entry: BinfmtEntry = { enabled: false, interpreter: '', flags: '', offset: 0 };
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === 'enabled') entry.enabled = true;
    else if (line.startsWith('interpreter ')) entry.interpreter = line.slice('interpreter '.length);
    else if (line.startsWith('flags:')) entry.flags = line.slice('flags:'.length).trim();
    else if (line.startsWith('offset ')) entry.offset = Number(line.slice('offset '.length));
    else if (line.startsWith('magic ')) entry.magic = Buffer.from(line.slice('magic '.length), 'hex');
    else if (line.startsWith('mask ')) entry.mask = Buffer.from(line.slice('mask '.length), 'hex');
    else if (line.startsWith('extension ')) entry.extension = line.slice('extension '.length);
  }
  return entry;
}

interface ElfIdent {
  /** 1: 32-bit, 2: 64-bit. */
  elfClass: 1 | 2;
  /** 1: little-endian, 2: big-endian. */
  data: 1 | 2;
  machine: number;
}

/** What an ELF executable of each appc linux arch says in its header. */
const ELF_OF_ARCH: Record<string, ElfIdent> = {
  amd64: { elfClass: 2, data: 1, machine: 0x3e },
  i386: { elfClass: 1, data: 1, machine: 0x03 },
  aarch64: { elfClass: 2, data: 1, machine: 0xb7 },
  aarch64_be: { elfClass: 2, data: 2, machine: 0xb7 },
  armv6l: { elfClass: 1, data: 1, machine: 0x28 },
  armv7l: { elfClass: 1, data: 1, machine: 0x28 },
  armv7b: { elfClass: 1, data: 2, machine: 0x28 },
  ppc64: { elfClass: 2, data: 2, machine: 0x15 },
  ppc64le: { elfClass: 2, data: 1, machine: 0x15 },
  s390x: { elfClass: 2, data: 2, machine: 0x16 },
};

/** The first 20 bytes of a static executable of `appcArch`, or undefined for an unknown arch. */
export function elfHeaderFor(appcArch: string): Buffer | undefined {
  const ident = ELF_OF_ARCH[appcArch];
  if (!ident) return undefined;
  const header = Buffer.alloc(20);
  header.set([0x7f, 0x45, 0x4c, 0x46, ident.elfClass, ident.data, 1], 0);
  const write16 = (value: number, at: number) => (ident.data === 1 ? header.writeUInt16LE(value, at) : header.writeUInt16BE(value, at));
  write16(2, 16); // e_type: ET_EXEC
  write16(ident.machine, 18);
  return header;
}

/** Whether an enabled magic entry claims `header` (the kernel's check: masked bytes equal at offset). */
export function binfmtMatches(entry: BinfmtEntry, header: Buffer): boolean {
  const { magic, mask } = entry;
  if (!entry.enabled || !magic || entry.offset + magic.length > header.length) return false;
  for (let i = 0; i < magic.length; i++) {
    const m = mask?.[i] ?? 0xff;
    if ((header[entry.offset + i]! & m) !== (magic[i]! & m)) return false;
  }
  return true;
}

/** The registered binfmt_misc entry that runs executables of `appcArch`, if any. */
export function binfmtEntryFor(appcArch: string, dir = '/proc/sys/fs/binfmt_misc'): BinfmtEntry | undefined {
  const header = elfHeaderFor(appcArch);
  if (!header) return undefined;
  let names: string[];
  try {
    if (readFileSync(join(dir, 'status'), 'utf8').trim() !== 'enabled') return undefined;
    names = readdirSync(dir);
  } catch {
    return undefined;
  }
  for (const name of names.sort()) {
    if (name === 'status' || name === 'register') continue;
    let entry: BinfmtEntry;
    try {
      entry = parseBinfmtEntry(readFileSync(join(dir, name), 'utf8'));
    } catch {
      continue;
    }
    if (binfmtMatches(entry, header)) return entry;
  }
  return undefined;
}

/** The interpreter (qemu-user) binfmt_misc runs executables of `appcArch` with, or undefined. */
export function binfmtHandlerFor(appcArch: string, dir?: string): string | undefined {
  return binfmtEntryFor(appcArch, dir)?.interpreter;
}

// ---- all -----------------------------------------------------------------------

/** The arches stage1 images are built for. */
export const STAGE1_ARCHES = ['armv6l', 'armv7l', 'aarch64', 'amd64'] as const;

export interface KernelFeatures {
  overlay: Probe;
  namespaces: Probe;
  cgroups: CgroupSupport;
  /** The binfmt_misc interpreter for each stage1 arch, where one is registered. */
  binfmt: Record<(typeof STAGE1_ARCHES)[number], string | undefined>;
}

/** Every probe; `dir` is a directory on the pods' filesystem, for the overlay trial. */
export function kernelFeatures(dir: string): KernelFeatures {
  const binfmt = Object.fromEntries(STAGE1_ARCHES.map((a) => [a, binfmtHandlerFor(a)])) as KernelFeatures['binfmt'];
  return { overlay: overlaySupport(dir), namespaces: namespaceSupport(), cgroups: cgroupSupport(), binfmt };
}
