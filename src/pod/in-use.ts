import type { InUse } from '../store/gc.ts';
import { StorePaths } from '../store/layout.ts';
import { treeImages } from '../store/tree-store.ts';
import type { PodInfo } from './info.ts';
import { listPods } from './lookup.ts';
import { stateDirOf } from './state.ts';

// What `rkt image gc` must leave alone because of pods (the store's InUse hook).
// Trees: as rkt, every tree of every pod that is not garbage, and of a pod in
// exited-garbage/ the stage1 tree alone, whose gc entrypoint runs before the pod is
// deleted. Images: this store removes an image's trees with the image, so every image
// a kept tree was rendered from (dependencies included, from the tree's layers file)
// stays too, with the images the manifest and runtime.json name (a pod being prepared
// may have no tree yet). That is more than rkt keeps (images of running pods): an
// exited pod keeps its images until `rkt gc` has collected it.

export async function podsInUse(dir: string): Promise<InUse> {
  const store = new StorePaths(dir);
  const inUse: InUse = { images: new Set(), trees: new Set() };
  for (const pod of await listPods(dir)) {
    for (const treeId of treesKept(pod)) {
      inUse.trees.add(treeId);
      for (const id of await treeImages(store, treeId)) inUse.images.add(id);
    }
    for (const id of imagesNamed(pod)) inUse.images.add(id);
  }
  return inUse;
}

function treesKept(pod: PodInfo): string[] {
  const dir = stateDirOf(pod.path);
  const stage1 = pod.runtime?.stage1?.treeId;
  if (dir === 'garbage') return [];
  if (dir === 'exited-garbage') return stage1 ? [stage1] : [];
  return [stage1, ...(pod.runtime?.apps ?? []).map((a) => a.treeId)].filter(isString);
}

function imagesNamed(pod: PodInfo): string[] {
  const dir = stateDirOf(pod.path);
  if (dir === 'garbage') return [];
  const stage1 = pod.runtime?.stage1?.imageId;
  if (dir === 'exited-garbage') return stage1 ? [stage1] : [];
  return [stage1, ...(pod.runtime?.apps ?? []).map((a) => a.imageId), ...pod.apps.map((a) => a.imageId)].filter(isString);
}

function isString(v: unknown): v is string {
  return typeof v === 'string' && v !== '';
}
