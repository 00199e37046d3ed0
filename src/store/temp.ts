import { randomBytes } from 'node:crypto';
import { constants, promises as fsp } from 'node:fs';
import { dirname, join } from 'node:path';
import { tryLockFile, withLock, type FileLock } from '../sys/flock.ts';
import { syncDirectory } from '../util/atomic-file.ts';
import type { StorePaths } from './layout.ts';

// Temporary entries in tmp/. Each is created and flock'ed under a shared tmp lock and
// stays locked until renamed into place or discarded, so gc (which sweeps tmp/ under
// the exclusive tmp lock and takes only entries it can lock) never removes one whose
// writer is alive, and always removes those of a writer killed at any point.

export interface TempEntry {
  readonly path: string;
  /** Renames into `dest` (same filesystem), syncs dest's directory unless told not to, unlocks. */
  commit(dest: string, opts?: { syncDir?: boolean }): Promise<void>;
  /** Removes whatever was written and unlocks; safe after a failed commit. */
  discard(): Promise<void>;
}

/** A new empty file in tmp/, open for writing. */
export async function tempFile(paths: StorePaths, kind: string): Promise<{ entry: TempEntry; handle: fsp.FileHandle }> {
  return create(paths, kind, (path) => fsp.open(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o644));
}

/** A new empty directory in tmp/. */
export async function tempDir(paths: StorePaths, kind: string): Promise<TempEntry> {
  return (await create(paths, kind, (path) => fsp.mkdir(path, { mode: 0o755 }))).entry;
}

/**
 * Writes `data` to `dest` through tmp/: synced, renamed, directory synced. Without the
 * directory sync (`syncDir: false`) a power cut may bring back the file `dest` replaced,
 * though never a torn one.
 */
export async function writeStoreFile(paths: StorePaths, dest: string, data: Uint8Array, opts: { syncDir?: boolean } = {}): Promise<void> {
  const { entry, handle } = await tempFile(paths, 'file');
  try {
    try {
      await handle.writeFile(data);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await entry.commit(dest, opts);
  } catch (err) {
    await entry.discard();
    throw err;
  }
}

async function create<T>(paths: StorePaths, kind: string, make: (path: string) => Promise<T>): Promise<{ entry: TempEntry; handle: T }> {
  const path = join(paths.tmpDir, `${kind}-${process.pid}-${randomBytes(6).toString('hex')}`);
  return withLock(paths.tmpLock, 'shared', async () => {
    const handle = await make(path);
    // Fresh and ours alone: the lock cannot be busy.
    const lock = tryLockFile(path, 'exclusive')!;
    return { entry: lockedEntry(path, lock), handle };
  });
}

function lockedEntry(path: string, lock: FileLock): TempEntry {
  return {
    path,
    async commit(dest, { syncDir = true } = {}) {
      await fsp.rename(path, dest);
      if (syncDir) await syncDirectory(dirname(dest));
      lock.release();
    },
    async discard() {
      await fsp.rm(path, { recursive: true, force: true });
      lock.release();
    },
  };
}
