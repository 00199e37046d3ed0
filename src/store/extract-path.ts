import { closeSync, constants, lstatSync, openSync } from 'node:fs';
import { UserError } from '../util/errors.ts';
import { normalizeEntryPath, unsafePathReason } from '../appc/tar-path.ts';

// Where an image's entries land, resolved so that nothing can redirect a write out of
// the tree. Paths are first checked as strings (no "..", nothing absolute). Then each
// component is opened from the directory fd of the one before, through
// /proc/self/fd/N, with O_DIRECTORY|O_NOFOLLOW: a symlink or a non-directory in the
// way is refused by the kernel, and one planted after a check cannot redirect the
// walk, because each step starts from a directory already open rather than from a
// path (a userspace openat walk, as crun does where openat2 is missing). The last
// component is left to the caller, whose call must not follow it (O_NOFOLLOW|O_EXCL,
// mkdir, symlink, link, mknod, lchown, lutimes).

const DIR_FLAGS = constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW;

/** A path naming what `fd` is open on, however it has been renamed or replaced since. */
export function fdPath(fd: number): string {
  return `/proc/self/fd/${fd}`;
}

/** `name` inside the directory open as `fd`: the kernel resolves only `name` afresh. */
export function inDir(fd: number, name: string): string {
  return `${fdPath(fd)}/${name}`;
}

/** A directory that entries are written beneath. */
export class TreeRoot {
  readonly #fd: number;
  /**
   * The parent directory of the last entry, still open: archives keep a directory's
   * entries together, and walking from the root for each one cost more than writing
   * the file. An fd stays bound to the directory it was checked as, whatever is
   * renamed or swapped at its path later, so reusing it is as safe as the walk.
   */
  #cached: { rel: string; fd: number } | undefined;

  private constructor(fd: number) {
    this.#fd = fd;
  }

  /** Opens `dir` (itself not a symlink) as a root. */
  static open(dir: string): TreeRoot {
    return new TreeRoot(openSync(dir, DIR_FLAGS));
  }

  /** The directory `rel` beneath this root, as a root of its own. */
  sub(rel: string): TreeRoot {
    return new TreeRoot(this.openDir(rel));
  }

  /** Opens directory `rel` ("" is the root), refusing a symlink or non-directory anywhere on the way. */
  openDir(rel: string): number {
    return this.#walk(rel, rel);
  }

  /** openDir(rel) on the way to `target`, which refusals name. */
  #walk(rel: string, target: string): number {
    checkRelative(rel, true);
    // A fresh fd of the root itself (a magic link, so without O_NOFOLLOW), closed like the others.
    let fd = openSync(fdPath(this.#fd), constants.O_RDONLY | constants.O_DIRECTORY);
    const parts = rel === '' ? [] : rel.split('/');
    for (let i = 0; i < parts.length; i++) {
      try {
        const next = openSync(inDir(fd, parts[i]!), DIR_FLAGS);
        closeSync(fd);
        fd = next;
      } catch (err) {
        const refusal = blocked(err, fd, parts[i]!, parts.slice(0, i + 1).join('/'), target);
        closeSync(fd);
        throw refusal;
      }
    }
    return fd;
  }

  /**
   * Runs `fn` on a path naming `rel` inside its opened parent. Errors name `rel`
   * rather than the /proc path.
   */
  async at<T>(rel: string, fn: (path: string) => Promise<T> | T): Promise<T> {
    checkRelative(rel, false);
    const slash = rel.lastIndexOf('/');
    const parent = this.#checkOut(slash === -1 ? '' : rel.slice(0, slash), rel);
    try {
      return await fn(inDir(parent.fd, rel.slice(slash + 1)));
    } catch (err) {
      throw relabel(err, rel);
    } finally {
      this.#checkIn(parent);
    }
  }

  close(): void {
    if (this.#cached) closeSync(this.#cached.fd);
    this.#cached = undefined;
    closeSync(this.#fd);
  }

  // A nested `at` (a hard link and its target) finds the cache empty and walks.
  #checkOut(rel: string, target: string): { rel: string; fd: number } {
    const cached = this.#cached;
    if (cached?.rel === rel) {
      this.#cached = undefined;
      return cached;
    }
    return { rel, fd: this.#walk(rel, target) };
  }

  #checkIn(dir: { rel: string; fd: number }): void {
    if (this.#cached) closeSync(this.#cached.fd);
    this.#cached = dir;
  }
}

/** Layer (1): a path must be relative, normalized and free of "..". */
function checkRelative(rel: string, rootAllowed: boolean): void {
  const reason = unsafePathReason(rel) ?? (normalizeEntryPath(rel) === rel ? undefined : 'is not normalized');
  if (reason) throw new UserError(`extract: path "${rel}" ${reason}`);
  if (rel === '' && !rootAllowed) throw new UserError('extract: an entry has an empty path');
}

function blocked(err: unknown, fd: number, name: string, component: string, target: string): unknown {
  const code = (err as NodeJS.ErrnoException).code;
  if (code !== 'ENOTDIR' && code !== 'ELOOP') return relabel(err, component);
  const what = kindOf(inDir(fd, name));
  if (component === target) return new UserError(`extract: "${component}" ${what}, where a directory should be`);
  return new UserError(`extract: "${component}" ${what}; refusing to write "${target}" beneath it`);
}

/** Why a component could not be opened as a directory; it may have changed again since. */
function kindOf(path: string): string {
  const stats = lstatSync(path, { throwIfNoEntry: false });
  if (stats?.isSymbolicLink()) return 'is a symlink';
  if (stats && !stats.isDirectory()) return 'is not a directory';
  return 'was replaced while it was being extracted';
}

/** A system error about a /proc/self/fd path, retold about the path in the tree. */
function relabel(err: unknown, rel: string): unknown {
  const sys = err as NodeJS.ErrnoException;
  if (!sys.code || !sys.syscall || !sys.path?.startsWith('/proc/self/fd/')) return err;
  sys.path = rel;
  sys.message = `${sys.syscall} \`${rel}\`: ${sys.code}`;
  delete (sys as { dest?: string }).dest;
  return sys;
}
