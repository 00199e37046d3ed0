import { getSystemErrorName } from 'node:util';
import { UserError } from '../util/errors.ts';
import { loadFfi } from './ffi.ts';

// mknod(2) through koffi, for the FIFOs and device nodes of an image: Node has no
// binding for either. glibc only exports `mknod` since 2.33 (Raspberry Pi OS bullseye
// ships 2.31, which has only the versioned `__xmknod`), so we call the mknodat system
// call by number, which every libc and kernel we run on has.

export const S_IFIFO = 0o010000;
export const S_IFCHR = 0o020000;
export const S_IFBLK = 0o060000;

const AT_FDCWD = -100;

// From each kernel's syscall table, for the arches koffi ships a build for.
const SYS_MKNODAT: Partial<Record<string, number>> = { x64: 259, ia32: 297, arm: 324, arm64: 33, riscv64: 33 };

type Syscall = (nr: number, ...typedArgs: unknown[]) => number | bigint;
let syscallFn: Syscall | undefined;

/** Creates a FIFO or device node at `path` (its last component is never followed). */
export function mknod(path: string, mode: number, devmajor = 0, devminor = 0): void {
  const nr = SYS_MKNODAT[process.arch];
  if (nr === undefined) throw new UserError(`mknod: no system call number known for ${process.arch}`);
  const koffi = loadFfi();
  syscallFn ??= koffi.load(null).func('long syscall(long nr, ...)') as Syscall;
  const dev = kernelDeviceNumber(devmajor, devminor);
  const rc = syscallFn(nr, 'int', AT_FDCWD, 'str', path, 'uint', mode, 'uint', dev);
  if (Number(rc) !== 0) throw errnoError('mknod', path, koffi.errno());
}

/** The kernel's 32-bit device number (new_encode_dev), which mknodat takes. */
export function kernelDeviceNumber(major: number, minor: number): number {
  if (major > 0xfff || minor > 0xfffff) throw new UserError(`mknod: device ${major}:${minor} is out of range`);
  return ((minor & 0xff) | (major << 8) | ((minor & ~0xff) << 12)) >>> 0;
}

function errnoError(syscall: string, path: string, errno: number): NodeJS.ErrnoException {
  const code = getSystemErrorName(-errno);
  return Object.assign(new Error(`${syscall} \`${path}\`: ${code}`), { syscall, path, errno: -errno, code });
}
