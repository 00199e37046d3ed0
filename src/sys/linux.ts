import { UserError } from '../util/errors.ts';
import { errnoError, loadFfi, type Koffi } from './ffi.ts';

// The Linux calls stage0 makes to hand a pod over to stage1 (docs/stage1-interface.md,
// "run"), through koffi. All are synchronous library calls on the calling thread: they
// run between unshare and execve, when libuv's pool threads are still in the host's
// mount namespace and must not be used. Each throws errnoError on failure.
// Nothing is bound until first use, so importing this module costs nothing.

export const CLONE_NEWNS = 0x00020000;
export const CLONE_NEWUTS = 0x04000000;
export const CLONE_NEWIPC = 0x08000000;
export const CLONE_NEWNET = 0x40000000;
/** Never from Node: it cannot create a thread afterwards (../shared/DESIGN.md, "Hard facts"). */
export const CLONE_NEWPID = 0x20000000;

export const MS_RDONLY = 1;
export const MS_NOSUID = 2;
export const MS_NODEV = 4;
export const MS_NOEXEC = 8;
export const MS_REMOUNT = 32;
export const MS_BIND = 4096;
export const MS_REC = 16384;
export const MS_PRIVATE = 1 << 18;
export const MS_SLAVE = 1 << 19;

export const MNT_DETACH = 2;

const F_SETFD = 2;

// From each kernel's syscall table: glibc has no pivot_root wrapper.
const SYS_PIVOT_ROOT: Partial<Record<string, number>> = { x64: 155, ia32: 217, arm: 218, arm64: 41, riscv64: 41 };

interface Bound {
  koffi: Koffi;
  unshare: (flags: number) => number;
  setns: (fd: number, nstype: number) => number;
  mount: (source: string | null, target: string, fstype: string | null, flags: number, data: string | null) => number;
  umount2: (target: string, flags: number) => number;
  sethostname: (name: string, len: number) => number;
  fcntl: (fd: number, cmd: number, ...typedArgs: unknown[]) => number;
  execve: (path: string, argv: (string | null)[], envp: (string | null)[]) => number;
  syscall: (nr: number, ...typedArgs: unknown[]) => number | bigint;
}

let bound: Bound | undefined;

function libc(): Bound {
  if (bound) return bound;
  const koffi = loadFfi();
  const lib = koffi.load(null);
  bound = {
    koffi,
    unshare: lib.func('int unshare(int flags)') as Bound['unshare'],
    setns: lib.func('int setns(int fd, int nstype)') as Bound['setns'],
    mount: lib.func(
      'int mount(const char *source, const char *target, const char *fstype, unsigned long flags, const char *data)',
    ) as Bound['mount'],
    umount2: lib.func('int umount2(const char *target, int flags)') as Bound['umount2'],
    sethostname: lib.func('int sethostname(const char *name, size_t len)') as Bound['sethostname'],
    fcntl: lib.func('int fcntl(int fd, int cmd, ...)') as Bound['fcntl'],
    execve: lib.func('int execve(const char *path, const char **argv, const char **envp)') as Bound['execve'],
    syscall: lib.func('long syscall(long nr, ...)') as Bound['syscall'],
  };
  return bound;
}

function check(rc: number | bigint, syscall: string, path: string): void {
  if (Number(rc) === -1) throw errnoError(syscall, path, libc().koffi.errno());
}

/** unshare(2) of the calling thread; `flags` from the CLONE_* constants. */
export function unshare(flags: number): void {
  if (flags & CLONE_NEWPID) throw new UserError('unshare: CLONE_NEWPID would break Node; stage1 creates the PID namespace');
  check(libc().unshare(flags), 'unshare', `0x${flags.toString(16)}`);
}

/** setns(2) of the calling thread into the namespace open at `fd`, of type `nstype` (a CLONE_* constant). */
export function setns(fd: number, nstype: number, what = `fd ${fd}`): void {
  check(libc().setns(fd, nstype), 'setns', what);
}

/** mount(2); `source`, `fstype` and `data` may be null where the kernel ignores them. */
export function mount(source: string | null, target: string, fstype: string | null, flags: number, data: string | null = null): void {
  check(libc().mount(source, target, fstype, flags >>> 0, data), 'mount', target);
}

export function umount2(target: string, flags = 0): void {
  check(libc().umount2(target, flags), 'umount2', target);
}

/** pivot_root(2), by system call number (there is no libc wrapper). */
export function pivotRoot(newRoot: string, putOld: string): void {
  const nr = SYS_PIVOT_ROOT[process.arch];
  if (nr === undefined) throw new UserError(`pivot_root: no system call number known for ${process.arch}`);
  check(libc().syscall(nr, 'str', newRoot, 'str', putOld), 'pivot_root', newRoot);
}

export function sethostname(name: string): void {
  check(libc().sethostname(name, Buffer.byteLength(name)), 'sethostname', name);
}

/** Clears FD_CLOEXEC on `fd`, so it survives execve (Node opens everything close-on-exec). */
export function clearCloseOnExec(fd: number): void {
  check(libc().fcntl(fd, F_SETFD, 'int', 0), 'fcntl', `fd ${fd}`);
}

/** execve(2): replaces the process, so it only returns by throwing. */
export function execve(path: string, argv: readonly string[], envp: readonly string[]): never {
  libc().execve(path, [...argv, null], [...envp, null]);
  throw errnoError('execve', path, libc().koffi.errno());
}
