import { existsSync } from 'node:fs';
import { relative, resolve, isAbsolute } from 'node:path';
import { packAci } from '../appc/aci-writer.ts';
import { imageIdHasher } from '../appc/image-id.ts';
import { validateLayout } from '../appc/layout.ts';
import { parallelGzip } from '../appc/pgzip.ts';
import { writeFileAtomic } from '../util/atomic-file.ts';
import { UserError } from '../util/errors.ts';
import { progressMeter } from '../util/progress.ts';

export interface BuildOptions {
  overwrite?: boolean;
  /** Write the tar uncompressed (faster to read on a Pi, larger to ship). */
  compress?: boolean;
  /** Record every entry as owned by 0:0 instead of the builder's own ids. */
  ownerRoot?: boolean;
  /** Clamp mtimes so that two builds of the same tree give the same bytes. */
  sourceDateEpoch?: number;
}

/** Builds an ACI from an image layout (a `manifest` file and a `rootfs/` directory). */
export async function buildAci(layoutDir: string, outFile: string, opts: BuildOptions = {}): Promise<{ imageId: string }> {
  await validateLayout(layoutDir);
  if (isInside(resolve(outFile), resolve(layoutDir))) {
    throw new UserError(`build: output ${outFile} is inside the layout ${layoutDir}; write it somewhere else`);
  }
  if (!opts.overwrite && existsSync(outFile)) {
    throw new UserError(`build: ${outFile} already exists; pass --overwrite to replace it`);
  }
  const hasher = imageIdHasher();
  const tar = packAci(layoutDir, { ownerRoot: opts.ownerRoot, sourceDateEpoch: opts.sourceDateEpoch });
  const stages = [hasher.stream, progressMeter(`building ${outFile}`)];
  await writeFileAtomic(outFile, tar, opts.compress === false ? stages : [...stages, parallelGzip()]);
  return { imageId: hasher.imageId() };
}

function isInside(path: string, dir: string): boolean {
  const rel = relative(dir, path);
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
}
