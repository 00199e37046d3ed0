import { closeSync, constants, fstatSync, openSync, statSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { UserError } from '../util/errors.ts';
import { tryFlock, type LockMode } from './flock-variant.ts';

// The flock(2) locks rkt processes take on the store, and later on pods; taken through
// koffi, or through flock(1) where koffi cannot load (flock-variant.ts).
//
// Waiting never calls a blocking flock. A blocking call on the main thread stops the
// event loop, so a process that already holds the lock through another open file (a
// blob being streamed while `remove` asks for the image) would wait for itself forever;
// on a koffi worker it would pin one of libuv's four pool threads per waiter, and twenty
// waiters would starve every fs call. Instead `lockFile` polls LOCK_NB with a backoff
// from 1 to 100 ms: no thread is held, the event loop keeps running, and the cost is a
// little latency and no FIFO fairness, which a store's short critical sections do not need.

const MAX_BACKOFF_MS = 100;

export type { LockMode } from './flock-variant.ts';

export interface FileLock {
  readonly path: string;
  /** The open file whose lock this is (O_CLOEXEC, as Node opens every file). */
  readonly fd: number;
  /** Unlocks by closing the file; a second call does nothing. */
  release(): void;
}

/** Thrown by `lockFile(..., { wait: false })` when another open file holds the lock. */
export class LockBusyError extends UserError {
  override name = 'LockBusyError';
  constructor(readonly path: string) {
    super(`lock: ${path} is held by another process; try again when it is done`);
  }
}

/**
 * Locks `path`, creating it as an empty file if it does not exist (a directory is
 * locked as it is). Waits for the lock unless `wait` is false, in which case a
 * held lock throws LockBusyError.
 */
export async function lockFile(path: string, mode: LockMode, opts: { wait?: boolean } = {}): Promise<FileLock> {
  for (let delay = 1; ; delay = Math.min(delay * 2, MAX_BACKOFF_MS)) {
    const lock = tryLockFile(path, mode);
    if (lock) return lock;
    if (opts.wait === false) throw new LockBusyError(path);
    await sleep(delay);
  }
}

/** Runs `fn` holding the lock, and releases it however `fn` ends. */
export async function withLock<T>(path: string, mode: LockMode, fn: () => Promise<T>): Promise<T> {
  const lock = await lockFile(path, mode);
  try {
    return await fn();
  } finally {
    lock.release();
  }
}

/**
 * The lock if it is free now, else null. Never waits. With `create` false a missing
 * file throws ENOENT instead of being created.
 */
export function tryLockFile(path: string, mode: LockMode, opts: { create?: boolean } = {}): FileLock | null {
  for (;;) {
    const fd = openLockable(path, opts.create ?? true);
    let locked: boolean;
    try {
      locked = tryFlock()(fd, mode, path);
    } catch (err) {
      closeSync(fd);
      throw err;
    }
    if (!locked) {
      closeSync(fd);
      return null;
    }
    if (stillNamed(fd, path)) return heldLock(path, fd);
    // Whoever held it unlinked the file (gc removing a stale lock file): a lock on
    // the unlinked inode would exclude nobody, so lock the file now at that name.
    closeSync(fd);
  }
}

/**
 * The exclusive lock on `path` if it is free now; null when it is held or the file is
 * gone, as a file listed a moment ago may be (whoever removed it is not our concern).
 */
export function tryLockIfPresent(path: string): FileLock | null {
  try {
    return tryLockFile(path, 'exclusive', { create: false });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

function openLockable(path: string, create: boolean): number {
  try {
    // O_RDONLY suffices for flock, and lets a reader lock a file it cannot write.
    return openSync(path, constants.O_RDONLY | (create ? constants.O_CREAT : 0), 0o644);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EISDIR') throw err;
    return openSync(path, constants.O_RDONLY | constants.O_DIRECTORY);
  }
}

function stillNamed(fd: number, path: string): boolean {
  const held = fstatSync(fd);
  try {
    const named = statSync(path);
    return named.ino === held.ino && named.dev === held.dev;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}

function heldLock(path: string, fd: number): FileLock {
  let open = true;
  return {
    path,
    fd,
    release() {
      if (!open) return;
      open = false;
      closeSync(fd);
    },
  };
}
