import type { RktContext } from '../config/context.ts';
import { Store } from '../store/store.ts';

/** The image store of a context: `<--dir>/cas`, made on first use. */
export function openStore(ctx: RktContext): Promise<Store> {
  return Store.open(ctx.dir);
}
