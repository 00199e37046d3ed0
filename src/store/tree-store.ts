import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { lockFile, type FileLock, type LockMode } from '../sys/flock.ts';
import { syncDirectory } from '../util/atomic-file.ts';
import type { StorePaths } from './layout.ts';

// The tree store's on-disk side: tree IDs, the `layers` and `.complete` files, and
// removal. A tree in tree/ is complete when `.complete` (its digest) is there: it is
// renamed in from tmp/ only after everything in it is synced.

/** Bump when extraction changes what a tree holds, so old trees are not reused. */
const TREE_FORMAT = 'rkt-tree-v1';
const TREE_ID_PREFIX = 'deps-';
export const COMPLETE_FILE = '.complete';
export const LAYERS_FILE = 'layers';

export interface TreeLayer {
  id: string;
  depth: number;
}

/**
 * "deps-" and the SHA-512 of the format version and the render steps (depth and image
 * ID, lowest first): the same images in the same places always give the same tree.
 */
export function treeIdOf(layers: TreeLayer[]): string {
  const hash = createHash('sha512').update(`${TREE_FORMAT}\n${layersText(layers)}`);
  return TREE_ID_PREFIX + hash.digest('hex');
}

/** Whether `id` can name a tree: one path component, so an ID read from a pod's files cannot lead out of tree/. */
export function isTreeId(id: string): boolean {
  return /^deps-[a-z0-9-]+$/.test(id);
}

export function layersText(layers: TreeLayer[]): string {
  return layers.map((l) => `${l.depth} ${l.id}\n`).join('');
}

export async function listTrees(paths: StorePaths): Promise<string[]> {
  return (await fsp.readdir(paths.treeDir)).filter((n) => n.startsWith(TREE_ID_PREFIX));
}

/** The digest from `.complete`, or undefined when the tree is absent or incomplete. */
export async function completeDigest(paths: StorePaths, treeId: string): Promise<string | undefined> {
  return readOptional(join(paths.tree(treeId), COMPLETE_FILE));
}

/** The image IDs a tree was rendered from; empty when the file is missing or unreadable. */
export async function treeImages(paths: StorePaths, treeId: string): Promise<string[]> {
  const text = (await readOptional(join(paths.tree(treeId), LAYERS_FILE))) ?? '';
  return text
    .split('\n')
    .map((line) => line.split(' ')[1])
    .filter((id): id is string => id !== undefined);
}

export function lockTree(paths: StorePaths, treeId: string, mode: LockMode, wait = true): Promise<FileLock> {
  return lockFile(paths.treeLock(treeId), mode, { wait });
}

/**
 * Removes a tree; the caller holds its exclusive lock. `.complete` goes first and
 * durably, so a crash midway leaves an incomplete tree (gc's) and never a complete
 * tree with files missing.
 */
export async function removeTreeLocked(paths: StorePaths, treeId: string): Promise<void> {
  const dir = paths.tree(treeId);
  await fsp.rm(join(dir, COMPLETE_FILE), { force: true });
  await syncDirectory(dir);
  await fsp.rm(dir, { recursive: true, force: true });
}

async function readOptional(path: string): Promise<string | undefined> {
  try {
    return await fsp.readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') return undefined;
    throw err;
  }
}
