import { closeSync, constants, lstatSync, mkdirSync, openSync, readlinkSync, type Stats } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { join, posix } from 'node:path';
import { errnoError } from '../sys/ffi.ts';

// Paths inside a root (an image's rootfs, the stage1 root), resolved and created
// without ever leaving it, like Go's securejoin under rkt and runc: every symlink on the
// way is read and resolved as if the root were `/` (an absolute target starts again at
// the root, `..` stops at it), so a hostile image cannot make stage0 mount over or
// create anything on the host. Sync calls only: this runs after unshare, when libuv's
// pool threads are still in the host's mount namespace.
//
// What is resolved here must not change before it is used: stage0 runs it on an image
// no process of the pod runs in yet.

/** As the kernel's MAXSYMLINKS. */
const MAX_LINKS = 40;
const ERRNO = osConstants.errno;

type CreateKind = 'dir' | 'file';

/**
 * The host path that `path` names inside `root`, every symlink resolved inside it.
 * Components that do not exist are taken as they are (they hold no symlink).
 */
export function resolveInRoot(root: string, path: string): string {
  return walk(root, path, undefined);
}

/** mkdir -p of `path` inside `root`, through symlinks resolved inside it; returns its host path. */
export function mkdirInRoot(root: string, path: string, mode = 0o755): string {
  return walk(root, path, { kind: 'dir', mode });
}

/**
 * An empty regular file at `path` inside `root` (its parents made as directories)
 * unless a file is already there: a mount target for a file bind mount. Returns its host path.
 */
export function touchInRoot(root: string, path: string, mode = 0o644): string {
  return walk(root, path, { kind: 'file', mode });
}

function walk(root: string, path: string, create: { kind: CreateKind; mode: number } | undefined): string {
  if (!root.startsWith('/')) throw new Error(`secure path: root \`${root}\` is not absolute`);
  const rootStat = lstatSync(root);
  if (!rootStat.isDirectory()) throw errnoError('resolve', root, ERRNO.ENOTDIR);
  // `current` is relative to root, normalized, and holds no symlink.
  let current = '';
  const remaining = components(path);
  let links = 0;
  let stat: Stats | undefined = rootStat;
  const where = () => join(root, current);
  while (remaining.length > 0) {
    const name = remaining.shift()!;
    const last = remaining.length === 0;
    if (name === '..') {
      current = current === '' ? '' : posix.dirname(current) === '.' ? '' : posix.dirname(current);
      stat = current === '' ? rootStat : lstatOrUndefined(where());
      continue;
    }
    const next = current === '' ? name : `${current}/${name}`;
    const hostPath = join(root, next);
    stat = lstatOrUndefined(hostPath);
    if (stat?.isSymbolicLink()) {
      if (++links > MAX_LINKS) throw errnoError('resolve', join(root, path), ERRNO.ELOOP);
      const target = readlinkSync(hostPath);
      if (target.startsWith('/')) current = '';
      remaining.unshift(...components(target));
      stat = current === '' ? rootStat : lstatOrUndefined(where());
      continue;
    }
    if (stat === undefined && create) {
      // Parents get 0755 whatever the target's mode, so non-root apps can reach it.
      stat = make(hostPath, last ? create.kind : 'dir', last ? create.mode : 0o755);
    }
    if (stat !== undefined && !last && !stat.isDirectory()) throw errnoError('resolve', hostPath, ERRNO.ENOTDIR);
    current = next;
  }
  const result = current === '' ? root : where();
  if (create && stat !== undefined) {
    if (create.kind === 'dir' && !stat.isDirectory()) throw errnoError('mkdir', result, ERRNO.ENOTDIR);
    if (create.kind === 'file' && stat.isDirectory()) throw errnoError('open', result, ERRNO.EISDIR);
  }
  return result;
}

function components(path: string): string[] {
  return path.split('/').filter((c) => c !== '' && c !== '.');
}

function lstatOrUndefined(path: string): Stats | undefined {
  try {
    return lstatSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** Creates a missing component; if something appeared there meanwhile, returns what it is. */
function make(hostPath: string, kind: CreateKind, mode: number): Stats {
  try {
    if (kind === 'dir') {
      mkdirSync(hostPath, { mode });
    } else {
      // O_EXCL with O_CREAT never follows a symlink, even a dangling one planted meanwhile.
      closeSync(openSync(hostPath, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, mode));
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  const stat = lstatSync(hostPath);
  if (stat.isSymbolicLink()) throw errnoError(kind === 'dir' ? 'mkdir' : 'open', hostPath, ERRNO.ELOOP);
  return stat;
}
