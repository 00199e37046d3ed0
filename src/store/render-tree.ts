import { createReadStream, promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { lockFile, type FileLock } from '../sys/flock.ts';
import { syncTree } from '../sys/sync-tree.ts';
import { writeFileAtomic } from '../util/atomic-file.ts';
import { UserError } from '../util/errors.ts';
import type { ResolvedLayer } from './dependencies.ts';
import { storeWriteError } from './disk-errors.ts';
import { readRecord } from './index-db.ts';
import type { StorePaths } from './layout.ts';
import { tempDir } from './temp.ts';
import { treeDigest } from './tree-digest.ts';
import { COMPLETE_FILE, LAYERS_FILE, completeDigest, layersText, lockTree, removeTreeLocked, treeIdOf } from './tree-store.ts';

/**
 * The complete tree of these layers, rendering it if needed. Holds every image's lock
 * shared (none can be removed meanwhile) and the tree's exclusive, so concurrent
 * renders of one tree wait for the first and then reuse its tree.
 */
export async function renderLayers(paths: StorePaths, layers: ResolvedLayer[]): Promise<{ treeId: string; path: string }> {
  const treeId = treeIdOf(layers);
  const path = paths.tree(treeId);
  const imageLocks = await lockImages(paths, layers);
  try {
    const treeLock = await lockTree(paths, treeId, 'exclusive');
    try {
      if ((await completeDigest(paths, treeId)) === undefined) {
        await removeTreeLocked(paths, treeId);
        await render(paths, layers, path);
      }
    } finally {
      treeLock.release();
    }
  } finally {
    for (const lock of imageLocks) lock.release();
  }
  return { treeId, path };
}

async function lockImages(paths: StorePaths, layers: ResolvedLayer[]): Promise<FileLock[]> {
  const locks: FileLock[] = [];
  try {
    for (const id of [...new Set(layers.map((l) => l.id))].sort()) {
      locks.push(await lockFile(paths.imageLock(id), 'shared'));
      // It may have been removed between resolving and locking.
      if ((await readRecord(paths, id)) === undefined) {
        throw new UserError(`render: image ${id} was removed while rendering: fetch it again`);
      }
    }
    return locks;
  } catch (err) {
    for (const lock of locks) lock.release();
    throw err;
  }
}

async function render(paths: StorePaths, layers: ResolvedLayer[], dest: string): Promise<void> {
  // Imported here: a tree already rendered needs no ACI reader.
  const { extractLayers } = await import('./extract.ts');
  const entry = await tempDir(paths, 'tree');
  try {
    const extractable = layers.map((l) => ({
      id: l.id,
      depth: l.depth,
      pathWhitelist: l.manifest.pathWhitelist,
      open: async (): Promise<Readable> => createReadStream(paths.blob(l.id)),
    }));
    await extractLayers(extractable, entry.path);
    await fsp.writeFile(join(entry.path, LAYERS_FILE), layersText(layers));
    const digest = await treeDigest(entry.path);
    await syncTree(entry.path);
    // Last, so that a tree with `.complete` is whole on disk.
    await writeFileAtomic(join(entry.path, COMPLETE_FILE), Readable.from([digest]));
    await entry.commit(dest);
  } catch (err) {
    await entry.discard();
    const top = layers[layers.length - 1]!;
    throw storeWriteError(err, `cannot render ${top.manifest.name}`, paths.root);
  }
}
