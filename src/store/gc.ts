import { promises as fsp } from 'node:fs';
import { join, relative } from 'node:path';
import { LockBusyError, tryLockFile, tryLockIfPresent, withLock, type FileLock } from '../sys/flock.ts';
import { ImageNotStoredError, removeImage } from './image-remove.ts';
import { filesWithoutRecord, listIds, listRecords } from './index-db.ts';
import type { StorePaths } from './layout.ts';
import { listTrees, removeTreeLocked } from './tree-store.ts';
import type { GcReport } from './types.ts';

// `rkt image gc`, as CoreOS rkt defines it: every tree not referenced by a pod that is
// not garbage, then every image not used within the grace period (default 24h) unless
// a running pod uses it, and the leftovers of interrupted commands: temporary entries no
// live process holds, blobs and manifests without a record, lock files of nothing.
// Whatever another process holds locked (being read, rendered, used) is skipped, never
// waited for: gc runs from timers and must not stall a running rkt.

export const DEFAULT_GRACE_PERIOD_MS = 24 * 60 * 60 * 1000;

/** What pods use: their trees, and the images of running pods. */
export interface InUse {
  images: Set<string>;
  trees: Set<string>;
}

export interface GcOptions {
  gracePeriodMs?: number;
  now?: Date;
  /**
   * What pods use (src/pod/in-use.ts podsInUse; the store does not read pods itself).
   * Without it nothing is in use: only for a store no pod has used (tests).
   */
  inUse?: () => Promise<InUse>;
}

export async function collectGarbage(paths: StorePaths, opts: GcOptions = {}): Promise<GcReport> {
  const inUse: InUse = opts.inUse ? await opts.inUse() : { images: new Set(), trees: new Set() };
  const report: GcReport = { removedImages: [], removedTrees: [], removedLeftovers: [] };
  for (const treeId of await listTrees(paths)) {
    if (!inUse.trees.has(treeId) && (await removeIfFree(paths.treeLock(treeId), () => removeTreeLocked(paths, treeId)))) {
      report.removedTrees.push(treeId);
    }
  }
  const cutoff = (opts.now ?? new Date()).getTime() - (opts.gracePeriodMs ?? DEFAULT_GRACE_PERIOD_MS);
  for (const record of await listRecords(paths)) {
    if (inUse.images.has(record.id) || Date.parse(record.lastUsedAt) > cutoff) continue;
    if (await removeUnlessBusy(paths, record.id)) report.removedImages.push(record.id);
  }
  report.removedLeftovers.push(...(await sweepTmp(paths)), ...(await sweepOrphans(paths)));
  await sweepLockFiles(paths);
  return report;
}

async function removeUnlessBusy(paths: StorePaths, id: string): Promise<boolean> {
  try {
    await removeImage(paths, id, false);
    return true;
  } catch (err) {
    if (err instanceof LockBusyError || err instanceof ImageNotStoredError) return false;
    throw err;
  }
}

/** Runs `remove` under the exclusive lock at `lockPath` if nobody holds it; true if it ran. */
async function removeIfFree(lockPath: string, remove: () => Promise<void>): Promise<boolean> {
  const lock = tryLockFile(lockPath, 'exclusive');
  if (!lock) return false;
  try {
    await remove();
    return true;
  } finally {
    lock.release();
  }
}

/** Entries of tmp/ that no live writer holds; see temp.ts. */
async function sweepTmp(paths: StorePaths): Promise<string[]> {
  const abandoned = await withLock(paths.tmpLock, 'exclusive', async () => {
    const locked: { path: string; lock: FileLock }[] = [];
    for (const name of await fsp.readdir(paths.tmpDir)) {
      const path = join(paths.tmpDir, name);
      // Gone when its writer renamed it into place since the listing; a temp is never recreated.
      const lock = tryLockIfPresent(path);
      if (lock) locked.push({ path, lock });
    }
    return locked;
  });
  // Locked by us, they are nobody else's: remove them without blocking creators.
  for (const { path, lock } of abandoned) {
    await fsp.rm(path, { recursive: true, force: true });
    lock.release();
  }
  return abandoned.map((a) => relative(paths.root, a.path));
}

/** Blobs, manifests and signatures whose record is gone (an interrupted write or rm), unless being written. */
async function sweepOrphans(paths: StorePaths): Promise<string[]> {
  const removed: string[] = [];
  const ids = new Set(await listIds(paths));
  const candidates = new Set((await filesWithoutRecord(paths, ids)).map((f) => f.id));
  for (const id of candidates) {
    await removeIfFree(paths.imageLock(id), async () => {
      if (new Set(await listIds(paths)).has(id)) return; // committed meanwhile
      for (const path of [paths.blob(id), paths.manifest(id), paths.signature(id)]) {
        if (await fsp.rm(path).then(() => true, () => false)) removed.push(relative(paths.root, path));
      }
    });
  }
  return removed;
}

/** Lock files of images and trees that no longer exist; flock.ts relocks a file unlinked under a waiter. */
async function sweepLockFiles(paths: StorePaths): Promise<void> {
  const ids = new Set(await listIds(paths));
  const trees = new Set(await listTrees(paths));
  for (const name of await fsp.readdir(paths.locksDir)) {
    const image = name.startsWith('image-') && !ids.has(name.slice('image-'.length));
    const tree = name.startsWith('tree-') && !trees.has(name.slice('tree-'.length));
    if (!image && !tree) continue;
    const path = join(paths.locksDir, name);
    await removeIfFree(path, () => fsp.rm(path, { force: true }));
  }
}
