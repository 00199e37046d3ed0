import { serializeImageManifest } from '../appc/image-manifest.ts';
import type { RktContext } from '../config/context.ts';
import { resolveImage } from '../store/lookup.ts';
import { openStore } from './open-store.ts';

/** `rkt image cat-manifest`: a stored image's manifest as JSON text, ending in a newline. */
export async function imageManifestText(ctx: RktContext, ref: string, opts: { pretty: boolean }): Promise<string> {
  const store = await openStore(ctx);
  const image = await resolveImage(store, ref);
  const text = serializeImageManifest(await store.manifest(image.id), { pretty: opts.pretty });
  return text.endsWith('\n') ? text : `${text}\n`;
}
