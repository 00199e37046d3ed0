import type { RktContext } from '../config/context.ts';
import { findImages } from '../store/lookup.ts';
import { describeError } from '../util/errors.ts';
import { openStore } from './open-store.ts';

// `rkt image rm`: as in rkt, an ID (or prefix) removes that image and a name removes
// every image of that name (narrowed by labels when given). Unlike rkt, naming what is
// not there is no failure: a fleet script that removes an image twice succeeds twice.

export interface RemoveReport {
  removed: { id: string; name: string }[];
  /** Arguments that named nothing in the store. */
  absent: string[];
  /** Arguments that could not be resolved or removed (an ambiguous prefix, an I/O error). */
  failed: { ref: string; error: string }[];
}

export async function removeImages(ctx: RktContext, refs: readonly string[]): Promise<RemoveReport> {
  const store = await openStore(ctx);
  const report: RemoveReport = { removed: [], absent: [], failed: [] };
  const done = new Set<string>();
  for (const ref of new Set(refs)) {
    try {
      const found = await findImages(store, ref);
      if (found.length === 0) {
        report.absent.push(ref);
        continue;
      }
      for (const image of found) {
        if (done.has(image.id)) continue;
        await store.remove(image.id);
        done.add(image.id);
        report.removed.push({ id: image.id, name: image.name });
      }
    } catch (err) {
      report.failed.push({ ref, error: describeError(err) });
    }
  }
  return report;
}
