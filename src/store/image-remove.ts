import { promises as fsp } from 'node:fs';
import { lockFile, type FileLock } from '../sys/flock.ts';
import { UserError } from '../util/errors.ts';
import { exists } from '../util/fs.ts';
import { deleteRecord, readRecord } from './index-db.ts';
import type { StorePaths } from './layout.ts';
import { listTrees, lockTree, removeTreeLocked, treeImages } from './tree-store.ts';

/** Thrown when the image to remove or change is not stored: scripts may treat it as done. */
export class ImageNotStoredError extends UserError {
  override name = 'ImageNotStoredError';
  constructor(readonly id: string) {
    super(`image ${id} is not in the store: see \`rkt image list\``);
  }
}

/**
 * Removes an image and every tree rendered from it. The record goes first (durably):
 * from then on the image is not stored, and a crash leaves only leftovers for gc.
 * With `wait` false a busy image or tree (being read, rendered, run) throws LockBusyError.
 */
export async function removeImage(paths: StorePaths, id: string, wait = true): Promise<void> {
  const imageLock = await lockFile(paths.imageLock(id), 'exclusive', { wait });
  const trees: { treeId: string; lock: FileLock }[] = [];
  try {
    if ((await readRecord(paths, id).catch(() => undefined)) === undefined && !(await exists(paths.blob(id)))) {
      throw new ImageNotStoredError(id);
    }
    for (const treeId of await treesOf(paths, id)) trees.push({ treeId, lock: await lockTree(paths, treeId, 'exclusive', wait) });
    await deleteRecord(paths, id);
    for (const { treeId } of trees) await removeTreeLocked(paths, treeId);
    await fsp.rm(paths.signature(id), { force: true });
    await fsp.rm(paths.manifest(id), { force: true });
    await fsp.rm(paths.blob(id), { force: true });
  } finally {
    for (const { lock } of trees) lock.release();
    imageLock.release();
  }
}

async function treesOf(paths: StorePaths, id: string): Promise<string[]> {
  const found: string[] = [];
  for (const treeId of await listTrees(paths)) if ((await treeImages(paths, treeId)).includes(id)) found.push(treeId);
  return found;
}
