import { createReadStream, promises as fsp } from 'node:fs';
import { join, relative } from 'node:path';
import { readAci } from '../appc/aci-reader.ts';
import { LockBusyError, withLock } from '../sys/flock.ts';
import { describeError } from '../util/errors.ts';
import { removeImage } from './image-remove.ts';
import { exists } from '../util/fs.ts';
import { deleteRecord, filesWithoutRecord, listIds, readRecord } from './index-db.ts';
import type { StorePaths } from './layout.ts';
import { treeDigest } from './tree-digest.ts';
import { completeDigest, listTrees, lockTree, removeTreeLocked, treeImages } from './tree-store.ts';
import type { VerifyProblem, VerifyReport } from './types.ts';

// `rkt image verify`: every blob re-hashed against its ID (and its stored manifest
// against the one in the tar), every record checked for its blob, every complete tree's
// digest recomputed. Damage is a problem; what an interrupted command leaves behind is
// a leftover, since kill -9 at any point must leave a store that verifies clean.

interface Damage {
  kind: 'blob' | 'index';
  problem: string;
  /** What repair removes: the whole image, or only a record too damaged to say what it holds. */
  remove: 'image' | 'record';
}

export async function verifyStore(paths: StorePaths, repair: boolean): Promise<VerifyReport> {
  const report: VerifyReport = { blobsChecked: 0, treesChecked: 0, problems: [], leftovers: [] };
  const ids = await listIds(paths);
  for (const id of ids) {
    const damage = await withLock(paths.imageLock(id), 'shared', () => checkImage(paths, id, report));
    if (damage) report.problems.push(await repairImage(paths, id, damage, repair));
  }
  for (const treeId of await listTrees(paths)) {
    const state = await withLock(paths.treeLock(treeId), 'shared', () => checkTree(paths, treeId, ids));
    if (state === 'leftover') report.leftovers.push(relative(paths.root, paths.tree(treeId)));
    if (state === 'ok' || state === 'damaged') report.treesChecked++;
    if (state === 'damaged') report.problems.push(await repairTree(paths, treeId, repair));
  }
  report.leftovers.push(...(await strayFiles(paths, new Set(ids))));
  return report;
}

async function checkImage(paths: StorePaths, id: string, report: VerifyReport): Promise<Damage | undefined> {
  try {
    if ((await readRecord(paths, id)) === undefined) return undefined; // removed meanwhile
  } catch (err) {
    return { kind: 'index', problem: describeError(err), remove: 'record' };
  }
  if (!(await exists(paths.blob(id)))) return { kind: 'index', problem: 'the record has no blob', remove: 'image' };
  report.blobsChecked++;
  let contents;
  try {
    contents = await readAci(createReadStream(paths.blob(id)));
  } catch (err) {
    return { kind: 'blob', problem: `the blob is damaged: ${describeError(err)}`, remove: 'image' };
  }
  if (contents.imageId !== id) return { kind: 'blob', problem: 'the blob does not hash to its ID', remove: 'image' };
  const stored = await fsp.readFile(paths.manifest(id)).catch(() => undefined);
  if (!stored?.equals(contents.manifestBytes)) {
    return { kind: 'blob', problem: 'the stored manifest differs from the one in the blob', remove: 'image' };
  }
  return undefined;
}

async function repairImage(paths: StorePaths, id: string, damage: Damage, repair: boolean): Promise<VerifyProblem> {
  const problem = { kind: damage.kind, id, problem: damage.problem };
  if (!repair) return { ...problem, removed: false };
  if (damage.remove === 'record') {
    await deleteRecord(paths, id);
    return { ...problem, removed: true };
  }
  return { ...problem, ...(await unlessBusy(() => removeImage(paths, id, false))) };
}

/** Repair never waits for a pod or a fetch that holds the item: it says so instead. */
async function unlessBusy(remove: () => Promise<void>): Promise<{ removed: boolean }> {
  try {
    await remove();
    return { removed: true };
  } catch (err) {
    if (!(err instanceof LockBusyError)) throw err;
    return { removed: false };
  }
}

async function checkTree(paths: StorePaths, treeId: string, ids: string[]): Promise<'ok' | 'damaged' | 'leftover' | 'gone'> {
  const recorded = await completeDigest(paths, treeId);
  if (recorded === undefined) return (await exists(paths.tree(treeId))) ? 'leftover' : 'gone';
  // A tree whose image is gone is what an interrupted rm leaves: gc's, not damage.
  if ((await treeImages(paths, treeId)).some((id) => !ids.includes(id))) return 'leftover';
  return (await treeDigest(paths.tree(treeId))) === recorded ? 'ok' : 'damaged';
}

async function repairTree(paths: StorePaths, treeId: string, repair: boolean): Promise<VerifyProblem> {
  const problem = { kind: 'tree', id: treeId, problem: 'files differ from when the tree was rendered' };
  if (!repair) return { ...problem, removed: false };
  return {
    ...problem,
    ...(await unlessBusy(async () => {
      const lock = await lockTree(paths, treeId, 'exclusive', false);
      try {
        await removeTreeLocked(paths, treeId);
      } finally {
        lock.release();
      }
    })),
  };
}

/** Blobs, manifests and signatures without a record, and everything in tmp/. */
async function strayFiles(paths: StorePaths, ids: Set<string>): Promise<string[]> {
  const found = (await filesWithoutRecord(paths, ids)).map((f) => f.path);
  found.push(...(await fsp.readdir(paths.tmpDir)).map((n) => join(paths.tmpDir, n)));
  return found.map((p) => relative(paths.root, p));
}
