import { join } from 'node:path';

// Pods on disk, under <dir>/pods/ (after CoreOS rkt): one directory per pod, in the
// directory of its state. Every state change is a rename(2) between these directories,
// and whether the pod's flock is held tells the rest (see docs/stage1-interface.md for
// what a pod directory holds):
//
//   embryo/          being created; only its creator knows it
//   prepare/         being prepared (locked), or a prepare that died (unlocked)
//   prepared/        ready for run-prepared
//   run/             running (locked by stage1) or exited (unlocked)
//   exited-garbage/  exited, marked by gc; deleted after the grace period
//   garbage/         failed or expired prepares, marked by gc; deleted at the next gc

export const POD_STATE_DIRS = ['embryo', 'prepare', 'prepared', 'run', 'exited-garbage', 'garbage'] as const;
export type PodStateDir = (typeof POD_STATE_DIRS)[number];

/** Where a pod's files are, relative to its directory. */
export const POD_FILES = {
  manifest: 'pod',
  runtime: 'runtime.json',
  stage1Rootfs: join('stage1', 'rootfs'),
  rkt: 'rkt',
  stage1Conf: join('rkt', 'stage1.conf'),
  pid: join('rkt', 'pid'),
  startedDir: join('rkt', 'started'),
  statusDir: join('rkt', 'status'),
  overlayDir: 'overlay',
  volumesDir: 'volumes',
} as const;

/**
 * The upper/ and work/ of an overlay, relative to the pod: `overlay/stage1` for the
 * stage1 root, `overlay/apps/<app>` for an app's, so no app name can collide with it.
 */
export function overlayDirOf(app?: string): string {
  return app === undefined ? join(POD_FILES.overlayDir, 'stage1') : join(POD_FILES.overlayDir, 'apps', app);
}

/** An app's root inside the stage1 root. */
export function appRootInStage1(app: string): string {
  return join('/opt/stage2', app, 'rootfs');
}

export class PodPaths {
  readonly root: string;

  constructor(dir: string) {
    this.root = join(dir, 'pods');
  }

  stateDir(state: PodStateDir): string {
    return join(this.root, state);
  }

  pod(state: PodStateDir, uuid: string): string {
    return join(this.root, state, uuid);
  }
}
