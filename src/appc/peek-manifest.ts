import { buffer } from 'node:stream/consumers';
import { parseImageManifest } from './image-manifest.ts';
import type { ImageManifest } from './types.ts';

const STOP = new Error('manifest read');

/** The manifest of an ACI file, reading no further than it (the reader loads on first use). */
export async function peekManifest(file: string): Promise<ImageManifest> {
  const { readAciFile } = await import('./aci-reader.ts');
  let manifest: ImageManifest | undefined;
  try {
    return (
      await readAciFile(file, async (entry, body) => {
        if (entry.path !== 'manifest') return;
        manifest = parseImageManifest(await buffer(body));
        throw STOP;
      })
    ).manifest;
  } catch (err) {
    if (err === STOP && manifest) return manifest;
    throw err;
  }
}
