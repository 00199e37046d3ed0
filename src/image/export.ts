import type { Transform } from 'node:stream';
import { IMAGE_ID_PREFIX } from '../appc/image-id.ts';
import { parallelGzip } from '../appc/pgzip.ts';
import type { RktContext } from '../config/context.ts';
import { exists } from '../util/fs.ts';
import { resolveImage } from '../store/lookup.ts';
import { writeFileAtomic } from '../util/atomic-file.ts';
import { ExitCode, UserError } from '../util/errors.ts';
import { hashingStream } from '../util/hashing-stream.ts';
import { openStore } from './open-store.ts';

// `rkt image export`: the stored tar, gzip-compressed, as an ACI file. The tar is the
// one the image ID was computed from, so the exported file has the same ID; it is
// checked on the way out, and a corrupt blob fails the export and leaves no file.

export async function exportImage(
  ctx: RktContext,
  ref: string,
  file: string,
  opts: { overwrite?: boolean } = {},
): Promise<{ id: string; name: string }> {
  const store = await openStore(ctx);
  const image = await resolveImage(store, ref);
  if (!opts.overwrite && (await exists(file))) throw new UserError(`export: "${file}" exists (use --overwrite to replace it)`);
  await writeFileAtomic(file, await store.openBlob(image.id), [checkId(image.id), parallelGzip()]);
  return { id: image.id, name: image.name };
}

/** A pass-through that fails at the end when what went through is not the image `id`. */
function checkId(id: string): Transform {
  return hashingStream('sha512', (hex) => {
    const got = IMAGE_ID_PREFIX + hex;
    if (got === id) return null;
    return new UserError(`export: stored image ${id} is corrupt (its content hashes to ${got}); run rkt image verify --repair`, ExitCode.rktFailure);
  }).stream;
}
