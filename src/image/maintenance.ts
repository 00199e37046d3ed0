import type { RktContext } from '../config/context.ts';
import { podsInUse } from '../pod/pods.ts';
import type { GcReport, VerifyReport } from '../store/types.ts';
import { openStore } from './open-store.ts';

// `rkt image gc` and `rkt image verify`: the store does the work; these only open it.

/**
 * Removes images not used for `gracePeriodMs`, unused rendered trees and leftovers of
 * interrupted writes; never what a pod that is not garbage uses (src/pod/in-use.ts).
 */
export async function gcImages(ctx: RktContext, gracePeriodMs: number): Promise<GcReport> {
  return (await openStore(ctx)).gc({ gracePeriodMs, inUse: () => podsInUse(ctx.dir) });
}

/** Checks every blob against its ID and every rendered tree; `repair` removes what is broken. */
export async function verifyStore(ctx: RktContext, repair: boolean): Promise<VerifyReport> {
  return (await openStore(ctx)).verify({ repair });
}
