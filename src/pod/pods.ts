// Pods on disk: states, moves, listing, gc and rm (after CoreOS rkt's pkg/pod). The one
// module other code imports; each concern lives in its own file:
//   state.ts       the states, and reading them from a directory and a lock
//   transition.ts  creating a pod, moving it between state directories
//   info.ts        what a pod is, read from its files (PodInfo)
//   lookup.ts      listing, UUID prefixes, waiting for a pod to exit
//   remove.ts      rkt rm, and deleting a pod safely
//   gc.ts          rkt gc
//   in-use.ts      what image gc must keep for pods
//   stage1-gc.ts   the stage1 gc entrypoint, run from the store

export { POD_STATES, newPodUuid, type PodState } from './state.ts';
export { createEmbryo, transition, type Embryo } from './transition.ts';
export { podExitCode, podHasExited, type AppInfo, type AppState, type PodInfo } from './info.ts';
export { getPod, listPods, waitForExit } from './lookup.ts';
export { removePod, removePodReporting, type RemoveOptions, type Stage1Gc } from './remove.ts';
export { DEFAULT_EXPIRE_PREPARED_MS, DEFAULT_POD_GRACE_PERIOD_MS, gcPods, type GcPodsOptions, type GcPodsReport } from './gc.ts';
export { podsInUse } from './in-use.ts';
export { stage1GcFromStore } from './stage1-gc.ts';
export type { PodStateDir } from './layout.ts';
