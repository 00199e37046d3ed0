import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { PassThrough, type Readable } from 'node:stream';
import { once } from 'node:events';
import { buffer } from 'node:stream/consumers';
import { readAciFile } from '../appc/aci-reader.ts';
import type { AciEntry } from '../appc/aci-entry.ts';
import { imageIdHasher } from '../appc/image-id.ts';
import { parseImageManifest, serializeImageManifest } from '../appc/image-manifest.ts';
import { parallelGzip } from '../appc/pgzip.ts';
import { END_OF_ARCHIVE, encodeTarHeader, paddingAfter } from '../appc/tar-header.ts';
import type { ImageManifest } from '../appc/types.ts';
import { writeFileAtomic } from '../util/atomic-file.ts';
import { UserError } from '../util/errors.ts';
import { applyPatch, type ManifestPatch } from './manifest-patch.ts';

export interface PatchOptions {
  /** A whole manifest to put in place of the image's own, before `patch` applies. */
  manifestFile?: string;
  patch: ManifestPatch;
  overwrite?: boolean;
  compress?: boolean;
}

/**
 * Rewrites an image with a changed manifest. Every other entry is copied as read
 * (after the reader's checks), in the same order, so only the manifest differs.
 * The output is written atomically: with input === output (--replace), a failure
 * leaves the original image whole.
 */
export async function patchAci(input: string, output: string, opts: PatchOptions): Promise<{ imageId: string }> {
  if (!opts.overwrite && existsSync(output)) {
    throw new UserError(`patch-manifest: ${output} already exists; pass --overwrite to replace it`);
  }
  const replacement = opts.manifestFile ? parseImageManifest(await readFile(opts.manifestFile)) : undefined;
  const newManifest = (own: ImageManifest) => serializeImageManifest(applyPatch(replacement ?? own, opts.patch), { pretty: true });

  const tar = new PassThrough();
  const hasher = imageIdHasher();
  const copying = copyEntries(input, tar, newManifest).catch((err: unknown) => {
    tar.destroy(err instanceof Error ? err : new Error(String(err)));
    throw err;
  });
  const stages = opts.compress === false ? [hasher.stream] : [hasher.stream, parallelGzip()];
  await Promise.all([copying, writeFileAtomic(output, tar, stages)]);
  return { imageId: hasher.imageId() };
}

async function copyEntries(input: string, tar: PassThrough, newManifest: (own: ImageManifest) => string): Promise<void> {
  await readAciFile(input, async (entry, body) => {
    if (entry.path === 'manifest') {
      const bytes = Buffer.from(newManifest(parseImageManifest(await buffer(body))));
      await writeEntry(tar, { ...entry, size: bytes.length }, bytes);
    } else {
      await writeEntry(tar, entry, body);
    }
  });
  await write(tar, END_OF_ARCHIVE);
  tar.end();
}

async function writeEntry(tar: PassThrough, entry: AciEntry, body: Readable | Buffer): Promise<void> {
  await write(tar, encodeTarHeader(entry));
  if (entry.type !== 'file') return;
  if (Buffer.isBuffer(body)) await write(tar, body);
  else for await (const chunk of body) await write(tar, chunk as Buffer);
  await write(tar, Buffer.alloc(paddingAfter(entry.size)));
}

async function write(stream: PassThrough, chunk: Buffer): Promise<void> {
  if (!stream.write(chunk)) await once(stream, 'drain');
}
