import { promises as fsp } from 'node:fs';
import path from 'node:path';
import type { RktContext } from '../config/context.ts';
import { resolveLayers } from '../store/dependencies.ts';
import { extractLayers, type ExtractLayer } from '../store/extract.ts';
import { exists } from '../util/fs.ts';
import { resolveImage } from '../store/lookup.ts';
import { syncTree } from '../sys/sync-tree.ts';
import { syncDirectory, temporaryNameFor } from '../util/atomic-file.ts';
import { UserError } from '../util/errors.ts';
import { openStore } from './open-store.ts';

// `rkt image extract` (the image alone) and `rkt image render` (the image on top of its
// dependencies, as a pod would see it). Either is written to a temporary directory
// beside DIR, synced, and renamed into place, so an interrupted run never leaves a
// half-written tree under DIR, and --overwrite replaces the old tree only at the end.
//
// render extracts the layers straight into DIR with the same dependency resolution and
// render plan as the store's tree cache (resolveLayers + extractLayers), rather than
// rendering a cached tree and copying it: one pass instead of two, no copy code that
// must keep hard links, owners and device nodes, and a debugging command adds nothing
// to the store that gc must later remove.

export interface ExtractOptions {
  /** Write the rootfs' contents at DIR, without the manifest. */
  rootfsOnly?: boolean;
  /** Replace DIR if it exists. */
  overwrite?: boolean;
  /** Lay the image's dependencies beneath it (render) instead of the image alone (extract). */
  withDependencies?: boolean;
}

export async function extractImage(ctx: RktContext, ref: string, dir: string, opts: ExtractOptions = {}): Promise<{ id: string }> {
  const what = opts.withDependencies ? 'render' : 'extract';
  const store = await openStore(ctx);
  const image = await resolveImage(store, ref);
  const target = path.resolve(dir);
  if (!opts.overwrite && (await exists(target))) throw new UserError(`${what}: "${dir}" exists (use --overwrite to replace it)`);

  const tmp = temporaryNameFor(target);
  await fsp.mkdir(tmp, { mode: 0o755 });
  try {
    const steps = opts.withDependencies
      ? await resolveLayers(store, image.id)
      : [{ id: image.id, depth: 0, manifest: await store.manifest(image.id) }];
    const layers: ExtractLayer[] = steps.map((s) => ({
      id: s.id,
      depth: s.depth,
      pathWhitelist: s.manifest.pathWhitelist,
      open: () => store.openBlob(s.id),
    }));
    // Device nodes only as root, as a pod's rootfs would have them.
    // extractLayers itself warns about device nodes it could not make.
    await extractLayers(layers, tmp, { rootfsOnly: opts.rootfsOnly ?? false, devices: true });
    await syncTree(tmp);
    if (opts.overwrite) await replaceDir(tmp, target);
    else await fsp.rename(tmp, target);
  } catch (err) {
    await fsp.rm(tmp, { recursive: true, force: true });
    throw err;
  }
  await syncDirectory(path.dirname(target));
  return { id: image.id };
}

/** Moves the old tree aside, the new one in, then removes the old one. */
async function replaceDir(fresh: string, target: string): Promise<void> {
  const old = temporaryNameFor(target);
  const hadOld = await fsp.rename(target, old).then(
    () => true,
    (err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return false;
      throw err;
    },
  );
  await fsp.rename(fresh, target);
  if (hadOld) await fsp.rm(old, { recursive: true, force: true });
}
