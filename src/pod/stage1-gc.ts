import { runEntrypoint } from '../stage0/entrypoints.ts';
import type { PodInfo } from './info.ts';

// The stage1 gc entrypoint (docs/stage1-interface.md, "enter, stop, gc"), as
// `init gc UUID` with the pod directory as working directory, to release what stage1
// set up outside the pod's namespaces.

/** The stage1Gc hook for gcPods and removePod: the pod's own stage1, from the store under `dir`. */
export function stage1GcFromStore(dir: string): (pod: PodInfo) => Promise<void> {
  return async (pod) => {
    const stage1 = pod.runtime?.stage1;
    if (!stage1) return; // never got as far as choosing a stage1: nothing outside to release
    await runEntrypoint(dir, stage1, 'gc', [pod.uuid], pod.path);
  };
}
