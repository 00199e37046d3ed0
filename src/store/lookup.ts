import { parseImageRef } from '../appc/discovery.ts';
import { IMAGE_ID_PREFIX } from '../appc/image-id.ts';
import { UserError } from '../util/errors.ts';
import type { Store } from './store.ts';
import type { ImageRecord } from './types.ts';

// What an `rkt image` argument names: an image ID (whole, or a unique prefix of at
// least "sha512-xx") or an image name with labels (`example.com/app:1.0,arch=armv7l`).
// Only the local store is consulted: these commands never fetch.

/** An argument starting with "sha512-" is an ID (or a prefix of one), as in rkt. */
function isIdRef(ref: string): boolean {
  return ref.startsWith(IMAGE_ID_PREFIX);
}

/**
 * Every stored image the argument names: for an ID prefix the one image it resolves to,
 * for a name all images of that name whose labels include the given ones, newest
 * first. An empty list means nothing matches (nothing stored under that name or ID); an
 * ambiguous or malformed ID prefix, or a malformed name, is an error.
 */
export async function findImages(store: Store, ref: string): Promise<ImageRecord[]> {
  if (isIdRef(ref)) {
    // The store decides what a valid, unambiguous prefix is; asking it only when
    // something matches lets callers tell "absent" from "ambiguous".
    const prefix = ref.toLowerCase();
    if (!(await store.list()).some((r) => r.id.startsWith(prefix))) {
      if (!/^sha512-[0-9a-f]*$/.test(prefix)) throw new UserError(`image ID "${ref}": not sha512- followed by hex digits`);
      return [];
    }
    const record = await store.get(await store.resolveId(ref));
    return record ? [record] : [];
  }
  const { name, labels } = parseImageRef(ref);
  return store.findByName(name, labels);
}

/** The one image an argument names: the ID's image, or the newest image of that name. */
export async function resolveImage(store: Store, ref: string): Promise<ImageRecord> {
  const [found] = await findImages(store, ref);
  if (!found) throw new UserError(`image ${isIdRef(ref) ? 'ID' : 'name'} "${ref}" not found in the store (rkt fetch it first)`);
  return found;
}
