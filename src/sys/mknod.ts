import { spawnSync, type StdioOptions } from 'node:child_process';
import { UserError } from '../util/errors.ts';
import { errnoError, loadFfi, type Koffi } from './ffi.ts';

// mknod(2) through koffi, for the FIFOs and device nodes of an image: Node has no
// binding for either. glibc only exports `mknod` since 2.33 (Raspberry Pi OS bullseye
// ships 2.31, which has only the versioned `__xmknod`), so we call the mknodat system
// call by number, which every libc and kernel we run on has. Where koffi cannot load
// (a Pi Zero), coreutils' mknod(1) makes them instead: pods run there too (stage1 sets
// them up, see src/stage0/handover-native.ts), so device nodes matter there as well.

export const S_IFIFO = 0o010000;
export const S_IFCHR = 0o020000;
export const S_IFBLK = 0o060000;
const S_IFMT = 0o170000;

const AT_FDCWD = -100;

// From each kernel's syscall table, for the arches koffi ships a build for.
const SYS_MKNODAT: Partial<Record<string, number>> = { x64: 259, ia32: 297, arm: 324, arm64: 33, riscv64: 33 };

type Syscall = (nr: number, ...typedArgs: unknown[]) => number | bigint;
let syscallFn: Syscall | undefined;

/** Creates a FIFO or device node at `path` (its last component is never followed). */
export function mknod(path: string, mode: number, devmajor = 0, devminor = 0): void {
  let koffi: Koffi;
  try {
    koffi = loadFfi();
  } catch {
    return mknodCommand(path, mode, devmajor, devminor);
  }
  const nr = SYS_MKNODAT[process.arch];
  if (nr === undefined) throw new UserError(`mknod: no system call number known for ${process.arch}`);
  syscallFn ??= koffi.load(null).func('long syscall(long nr, ...)') as Syscall;
  const dev = kernelDeviceNumber(devmajor, devminor);
  const rc = syscallFn(nr, 'int', AT_FDCWD, 'str', path, 'uint', mode, 'uint', dev);
  if (Number(rc) !== 0) throw errnoError('mknod', path, koffi.errno());
}

const MKNOD_TYPE: Record<number, string> = { [S_IFIFO]: 'p', [S_IFCHR]: 'c', [S_IFBLK]: 'b' };

/** mknod(1), which like mknodat never follows an existing last component (EEXIST). */
function mknodCommand(path: string, mode: number, devmajor: number, devminor: number): void {
  const type = MKNOD_TYPE[mode & S_IFMT];
  if (type === undefined) throw new UserError(`mknod: ${path}: not a FIFO or device node (mode ${mode.toString(8)})`);
  // Extraction names the parent by its fd (/proc/self/fd/N/name), which in the child
  // would be the child's own fd N: hand it our fd N as its fd 3 instead.
  const viaFd = /^\/proc\/self\/fd\/(\d+)\//.exec(path);
  const childPath = viaFd ? `/proc/self/fd/3/${path.slice(viaFd[0].length)}` : path;
  const stdio: StdioOptions = ['ignore', 'ignore', 'pipe', ...(viaFd ? [Number(viaFd[1])] : [])];
  const numbers = type === 'p' ? [] : [String(devmajor), String(devminor)];
  const r = spawnSync('mknod', ['--mode', (mode & 0o7777).toString(8), '--', childPath, type, ...numbers], { stdio, encoding: 'utf8' });
  const fail = (why: string) => Object.assign(new Error(`mknod \`${path}\`: ${why}`), { syscall: 'mknod', path });
  if (r.error) throw Object.assign(fail(r.error.message), { code: (r.error as NodeJS.ErrnoException).code });
  if (r.status !== 0) throw fail(r.stderr.trim() || `exit status ${r.status ?? r.signal}`);
}

/** The kernel's 32-bit device number (new_encode_dev), which mknodat takes. */
function kernelDeviceNumber(major: number, minor: number): number {
  if (major > 0xfff || minor > 0xfffff) throw new UserError(`mknod: device ${major}:${minor} is out of range`);
  return ((minor & 0xff) | (major << 8) | ((minor & ~0xff) << 12)) >>> 0;
}
