import { createReadStream } from 'node:fs';
import { Transform, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { imageIdHasher } from '../appc/image-id.ts';
import type { Dependency } from '../appc/types.ts';
import { UserError } from '../util/errors.ts';
import { hostDefaults, type Host, type ImageRequest } from './match.ts';

// Dependencies (appc aci.md, "Dependency Matching") are fetched by name and labels like
// any image. The host's os and arch fill labels a dependency leaves out, so discovery
// templates with {os} and {arch} work, while a "noarch" image (no arch label) still
// matches. When the dependency names an imageID or a size, the download must have
// them: both describe the uncompressed tar, as the store's IDs and sizes do, so they
// do not depend on the compression a server picked.

/** The request for a dependency, and how to name it in messages ("name,label=value"). */
export function dependencyRequest(dep: Dependency, host: Host): { ref: string; req: ImageRequest } {
  const labels = Object.fromEntries(dep.labels.map((l) => [l.name, l.value]));
  const ref = [dep.imageName, ...dep.labels.map((l) => `${l.name}=${l.value}`)].join(',');
  return { ref, req: { name: dep.imageName, labels, defaults: hostDefaults(labels, host) } };
}

/** A key that is the same for the same name and labels, whatever their order. */
export function dependencyKey(name: string, labels: Record<string, string>): string {
  return [name, ...Object.entries(labels).map(([k, v]) => `${k}=${v}`).sort()].join(',');
}

/**
 * The image ID and uncompressed size of an image file, reading no more than
 * `maxSize` uncompressed bytes (a dependency's size bounds an "endless data" image);
 * past that it stops, and there is no ID.
 */
export async function measureImage(file: string, maxSize?: number): Promise<{ id?: string; size: number }> {
  const hasher = imageIdHasher();
  let size = 0;
  const counter = new Transform({
    transform(chunk: Buffer, _enc, done) {
      size += chunk.length;
      if (maxSize !== undefined && size > maxSize) done(new SizeExceeded());
      else done(null, chunk);
    },
  });
  const sink = new Writable({ write: (_chunk, _enc, done) => done() });
  // Imported here: checking a stored image's dependencies decompresses nothing.
  const { decompressed } = await import('../appc/compression.ts');
  try {
    await pipeline(await decompressed(createReadStream(file)), counter, hasher.stream, sink);
  } catch (err) {
    if (err instanceof SizeExceeded) return { size };
    throw err;
  }
  return { id: hasher.imageId(), size };
}

class SizeExceeded extends Error {}

/** Refuses a dependency's image when it is not the one the imageID or size names (the caller says which dependency). */
export function checkDependency(dep: Dependency, found: { id?: string; size: number }): void {
  if (dep.size !== undefined && found.size !== dep.size) {
    const got = found.id === undefined ? `more than ${dep.size} bytes` : `${found.size} bytes`;
    throw new UserError(`fetch: the image is ${got} where the manifest says ${dep.size}; the server has another image under that name`);
  }
  if (dep.imageID !== undefined && found.id !== dep.imageID) {
    throw new UserError(`fetch: the image has ID ${found.id} where the manifest requires ${dep.imageID}; the server has another image under that name`);
  }
}
