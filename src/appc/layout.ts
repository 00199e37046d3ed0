import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { UserError } from '../util/errors.ts';
import { lstatOrUndefined } from '../util/fs.ts';
import { parseImageManifest } from './image-manifest.ts';
import type { ImageManifest } from './types.ts';

// An image layout (appc aci.md, "Image Layout"): a directory holding a `manifest`
// file and a `rootfs` directory, and nothing else.

/**
 * Checks the top of a layout. With `manifest: false` the manifest file may be
 * absent (its bytes come from elsewhere); when present it must still be a file.
 */
export async function checkLayoutTop(dir: string, opts: { manifest: boolean } = { manifest: true }): Promise<void> {
  const top = await lstatOrUndefined(dir);
  if (!top?.isDirectory()) throw new UserError(`layout: ${dir} is not a directory`);
  for (const name of await readdir(dir)) {
    if (name !== 'manifest' && name !== 'rootfs') {
      throw new UserError(`layout: unexpected "${name}" in ${dir}: only manifest and rootfs belong there`);
    }
  }
  const manifest = await lstatOrUndefined(join(dir, 'manifest'));
  if (manifest === undefined && opts.manifest) throw new UserError(`layout: ${dir} has no manifest`);
  if (manifest !== undefined && !manifest.isFile()) throw new UserError(`layout: ${join(dir, 'manifest')} is not a regular file`);
  const rootfs = await lstatOrUndefined(join(dir, 'rootfs'));
  if (!rootfs?.isDirectory()) throw new UserError(`layout: ${dir} has no rootfs directory`);
}

/** Checks a layout and returns its parsed manifest. */
export async function validateLayout(dir: string): Promise<ImageManifest> {
  await checkLayoutTop(dir);
  return parseImageManifest(await readFile(join(dir, 'manifest')));
}

