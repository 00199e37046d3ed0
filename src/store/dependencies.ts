import { renderSteps } from '../appc/render.ts';
import type { Dependency, ImageManifest } from '../appc/types.ts';
import { UserError } from '../util/errors.ts';
import type { TreeLayer } from './tree-store.ts';
import type { ImageRecord } from './types.ts';

// An image's dependencies, found in the store: by imageID when the manifest pins one
// (then name and size must agree), else the newest stored image of that name carrying
// every listed label. The store never fetches: a missing one says to fetch it.

export interface StoreView {
  resolveId(idOrPrefix: string): Promise<string>;
  get(id: string): Promise<ImageRecord | undefined>;
  findByName(name: string, labels: Record<string, string>): Promise<ImageRecord[]>;
  manifest(id: string): Promise<ImageManifest>;
}

export interface ResolvedLayer extends TreeLayer {
  manifest: ImageManifest;
}

/** The render steps of `id` with their manifests, lowest first (see renderSteps). */
export async function resolveLayers(store: StoreView, id: string): Promise<ResolvedLayer[]> {
  const manifests = new Map<string, ImageManifest>();
  const edges = new Map<string, string[]>();
  const pending = [id];
  while (pending.length > 0) {
    const current = pending.pop()!;
    if (edges.has(current)) continue;
    const manifest = await store.manifest(current);
    manifests.set(current, manifest);
    const deps: string[] = [];
    for (const dep of manifest.dependencies) deps.push(await findDependency(store, dep, manifest.name));
    edges.set(current, deps);
    pending.push(...deps);
  }
  const steps = renderSteps(id, (i) => edges.get(i)!, (i) => i);
  return steps.map((s) => ({ id: s.image, depth: s.depth, manifest: manifests.get(s.image)! }));
}

async function findDependency(store: StoreView, dep: Dependency, of: string): Promise<string> {
  const labels = Object.fromEntries(dep.labels.map((l) => [l.name, l.value]));
  const described = describe(dep);
  if (dep.imageID === undefined) {
    const [newest] = await store.findByName(dep.imageName, labels);
    if (!newest) throw new UserError(`render: ${of} depends on ${described}, which is not in the store: fetch it first`);
    return newest.id;
  }
  let id: string;
  try {
    id = await store.resolveId(dep.imageID);
  } catch (err) {
    throw new UserError(`render: ${of} depends on ${described}, which is not in the store: fetch it first`, undefined, { cause: err });
  }
  const record = (await store.get(id))!;
  if (record.name !== dep.imageName) {
    throw new UserError(`render: ${of} depends on ${described}, but that ID is the image ${record.name}`);
  }
  if (dep.size !== undefined && dep.size !== record.size) {
    throw new UserError(`render: ${of} depends on ${described} of ${dep.size} bytes, but the stored image has ${record.size}`);
  }
  return id;
}

function describe(dep: Dependency): string {
  const labels = dep.labels.map((l) => `,${l.name}=${l.value}`).join('');
  return `${dep.imageName}${labels}${dep.imageID ? ` (${dep.imageID})` : ''}`;
}
