import { join, posix } from 'node:path';
import type { MountPoint, RuntimeApp, Volume } from '../appc/types.ts';
import { POD_FILES, appRootInStage1, overlayDirOf } from '../pod/layout.ts';
import type { PodRuntime } from '../pod/runtime.ts';
import { UserError } from '../util/errors.ts';
import { podEtcFiles } from './dns.ts';

// The pod's filesystem as a list of operations (docs/stage1-interface.md, "run", steps
// 2 and 3), as plain data: which roots to mount, what /dev holds, where the volumes go.
// Pure: no fs, no FFI, so every rule can be tested without root and read in one place;
// handover.ts executes the list in order in the pod's mount namespace.
//
// Every target is a path inside a root. A root is a host path stage0 itself controls:
// the pod directory, the stage1 root or an app root an earlier operation mounted; the
// path is resolved inside it (secure-path.ts), so an image's symlinks cannot point a
// mount at the host. Mount and bind targets that do not exist are created (a
// directory, or an empty file when the source is one), since an image need not hold
// empty directories.

export interface InRoot {
  root: string;
  path: string;
}

export type MountFlag = 'nosuid' | 'nodev' | 'noexec';

export type MountOp =
  /** mkdir -p; with `owner`, the last directory is then given that mode and owner. */
  | { op: 'mkdir'; target: InRoot; owner?: { mode: number; uid: number; gid: number } }
  /** A new filesystem (overlay, tmpfs, devpts) at the target, made a directory if missing. */
  | { op: 'mount'; fstype: string; source: string; target: InRoot; flags: MountFlag[]; data: string }
  /**
   * A bind mount of a host path (followed as the host sees it: a host volume's source
   * is the user's choice) or of a path inside a root; read-only binds are remounted
   * read-only, with `flags`, at once.
   */
  | { op: 'bind'; source: string | InRoot; target: InRoot; recursive: boolean; readOnly: boolean; flags: MountFlag[] }
  /** A host device node bound onto an empty file. */
  | { op: 'bind-device'; source: string; target: InRoot }
  | { op: 'symlink'; target: InRoot; linkTo: string }
  /** Makes the mount at the target read-only (a bind remount, so only that mount). */
  | { op: 'remount-ro'; target: InRoot; flags: MountFlag[] };

export interface MountPlan {
  /** The host path of the stage1 root, once mounted: where stage0 pivots. */
  stage1Root: string;
  ops: MountOp[];
}

export interface MountPlanInput {
  /** The pod directory, a real path (no symlink in it). */
  podPath: string;
  runtime: PodRuntime;
  /** The pod manifest's apps (their mounts) and volumes. */
  manifest: { apps: readonly RuntimeApp[]; volumes: readonly Volume[] };
  /**
   * Each app's image mountPoints, by app name, for an app whose RuntimeApp carries no
   * `app` (a reified manifest normally does: then its mountPoints are used).
   */
  imageMountPoints?: ReadonlyMap<string, readonly MountPoint[]>;
  /** The terminal on stdin, when it is one: `/dev/console` with --interactive. */
  tty?: string | undefined;
  /** A tree's directory in the store (it holds `rootfs`); used with overlay only. */
  treePath(treeId: string): string;
  /** systemd's NOTIFY_SOCKET when it is a path: bound at /rkt/notify for stage1's READY=1. */
  notifySocket?: string | undefined;
}

/** Where a path NOTIFY_SOCKET appears to stage1 (entrypoints.ts tells stage1 so). */
export const NOTIFY_SOCKET_IN_STAGE1 = '/rkt/notify';

/** The devices bound from the host into every app's /dev. */
const APP_DEVICES = ['null', 'zero', 'full', 'random', 'urandom', 'tty'] as const;
const STAGE1_DEVICES = ['null', 'zero'] as const;
/** An AC Name: safe as a single path component. */
const AC_NAME = /^[a-z0-9]+(-[a-z0-9]+)*$/;

export function planMounts(input: MountPlanInput): MountPlan {
  const { podPath, runtime } = input;
  const stage1Root = join(podPath, POD_FILES.stage1Rootfs);
  const ops: MountOp[] = [];
  const consoleSource = runtime.options.interactive && input.tty ? input.tty : '/dev/null';

  // The stage1 root, /rkt, and what the init needs before it mounts /proc.
  const stage1Target: InRoot = { root: podPath, path: POD_FILES.stage1Rootfs };
  ops.push(...rootOps(input, overlayDirOf(), runtime.stage1.treeId, stage1Target));
  ops.push({ op: 'mkdir', target: { root: podPath, path: POD_FILES.rkt } });
  ops.push(bind({ root: podPath, path: POD_FILES.rkt }, { root: stage1Root, path: '/rkt' }));
  if (input.notifySocket) ops.push(bind(input.notifySocket, { root: stage1Root, path: NOTIFY_SOCKET_IN_STAGE1 }));
  ops.push(...devOps(stage1Root, STAGE1_DEVICES, consoleSource, false));
  ops.push({ op: 'mkdir', target: { root: stage1Root, path: '/proc' } });

  const volumes = new Map(input.manifest.volumes.map((v) => [v.name, v]));
  const madeVolumes = new Set<string>();
  for (const app of runtime.apps) {
    if (!AC_NAME.test(app.name)) throw new UserError(`pod: app name ${JSON.stringify(app.name)} is not an AC name`);
    const ra = input.manifest.apps.find((a) => a.name === app.name);
    if (!ra) throw new UserError(`pod: runtime.json names app ${app.name}, which the pod manifest lacks`);
    const appRoot = join(stage1Root, appRootInStage1(app.name));
    ops.push(...rootOps(input, overlayDirOf(app.name), app.treeId, { root: stage1Root, path: appRootInStage1(app.name) }));
    ops.push(...devOps(appRoot, APP_DEVICES, consoleSource, true));
    ops.push(bind('/sys', { root: appRoot, path: '/sys' }, { readOnly: true, flags: ['nosuid', 'nodev', 'noexec'] }));
    ops.push({ op: 'mkdir', target: { root: appRoot, path: '/proc' } });
    // The pod's resolv.conf and hosts, before the volumes: a volume at /etc hides them, and they never land in it.
    for (const { file, target } of podEtcFiles(runtime.options)) {
      ops.push(bind({ root: podPath, path: file }, { root: appRoot, path: target }, { readOnly: true, flags: ['nosuid', 'nodev', 'noexec'] }));
    }
    const mountPoints = ra.app?.mountPoints ?? input.imageMountPoints?.get(app.name) ?? [];
    for (const m of appMounts(ra, mountPoints, volumes)) {
      ops.push(...volumeOps(podPath, m, madeVolumes));
      ops.push(volumeBind(podPath, m, appRoot));
    }
    if (app.readOnlyRootFS) ops.push({ op: 'remount-ro', target: { root: stage1Root, path: appRootInStage1(app.name) }, flags: [] });
  }
  return { stage1Root, ops };
}

/** The root's mount: an overlay on the tree, or the prepared copy bound onto itself (so pivot_root takes it). */
function rootOps(input: MountPlanInput, dir: string, treeId: string, target: InRoot): MountOp[] {
  if (!input.runtime.overlay) return [bind(target, target)];
  const upper = join(input.podPath, dir, 'upper');
  const work = join(input.podPath, dir, 'work');
  const lower = join(input.treePath(treeId), 'rootfs');
  const data = `lowerdir=${overlayEscape(lower)},upperdir=${overlayEscape(upper)},workdir=${overlayEscape(work)}`;
  return [
    { op: 'mkdir', target: { root: input.podPath, path: join(dir, 'upper') } },
    { op: 'mkdir', target: { root: input.podPath, path: join(dir, 'work') } },
    { op: 'mount', fstype: 'overlay', source: 'overlay', target, flags: [], data },
  ];
}

/** overlayfs splits its options at `,` and lowerdir at `:`; a backslash escapes either. */
export function overlayEscape(path: string): string {
  return path.replace(/[\\,:]/g, (c) => `\\${c}`);
}

function devOps(root: string, devices: readonly string[], consoleSource: string, full: boolean): MountOp[] {
  const at = (path: string): InRoot => ({ root, path: posix.join('/dev', path) });
  const ops: MountOp[] = [{ op: 'mount', fstype: 'tmpfs', source: 'tmpfs', target: at(''), flags: ['nosuid', 'noexec'], data: 'mode=0755' }];
  for (const dev of devices) ops.push({ op: 'bind-device', source: posix.join('/dev', dev), target: at(dev) });
  ops.push({ op: 'bind-device', source: consoleSource, target: at('console') });
  if (!full) return ops;
  ops.push(
    { op: 'mount', fstype: 'devpts', source: 'devpts', target: at('pts'), flags: ['nosuid', 'noexec'], data: 'newinstance,ptmxmode=0666,mode=0620,gid=5' },
    { op: 'symlink', target: at('ptmx'), linkTo: 'pts/ptmx' },
    { op: 'mount', fstype: 'tmpfs', source: 'shm', target: at('shm'), flags: ['nosuid', 'nodev', 'noexec'], data: 'mode=1777' },
    { op: 'symlink', target: at('fd'), linkTo: '/proc/self/fd' },
    { op: 'symlink', target: at('stdin'), linkTo: '/proc/self/fd/0' },
    { op: 'symlink', target: at('stdout'), linkTo: '/proc/self/fd/1' },
    { op: 'symlink', target: at('stderr'), linkTo: '/proc/self/fd/2' },
  );
  return ops;
}

function bind(
  source: string | InRoot,
  target: InRoot,
  opts: { recursive?: boolean; readOnly?: boolean; flags?: MountFlag[] } = {},
): MountOp {
  return { op: 'bind', source, target, recursive: opts.recursive ?? false, readOnly: opts.readOnly ?? false, flags: opts.flags ?? [] };
}

/** One volume as an app mounts it. */
interface AppMount {
  volume: Volume;
  /** Inside the app's root. */
  path: string;
  readOnly: boolean;
}

/**
 * The app's volumes (appc spec/pods.md, as rkt reads it): each of its mounts, with the
 * volume it names (or carries as appVolume); then each mountPoint no mount fulfils, by
 * the pod volume of the same name. A mount is read-only when its volume or its
 * mountPoint says so.
 */
function appMounts(ra: RuntimeApp, mountPoints: readonly MountPoint[], volumes: ReadonlyMap<string, Volume>): AppMount[] {
  const mounts: AppMount[] = [];
  const fulfils = (mp: MountPoint, volume: string, path: string) => mp.name === volume || samePath(mp.path, path);
  for (const m of ra.mounts) {
    const volume = m.appVolume ?? volumes.get(m.volume);
    if (!volume) throw new UserError(`app ${ra.name}: mount at ${m.path} names volume ${m.volume}, which the pod does not define`);
    const mp = mountPoints.find((p) => fulfils(p, m.volume, m.path));
    mounts.push({ volume, path: m.path, readOnly: volume.readOnly === true || mp?.readOnly === true });
  }
  for (const mp of mountPoints) {
    if (ra.mounts.some((m) => fulfils(mp, m.volume, m.path))) continue;
    const volume = volumes.get(mp.name);
    if (!volume) {
      throw new UserError(`app ${ra.name} needs volume ${mp.name}: give --volume ${mp.name},kind=host,source=PATH or kind=empty`);
    }
    mounts.push({ volume, path: mp.path, readOnly: volume.readOnly === true || mp.readOnly });
  }
  return mounts;
}

function samePath(a: string, b: string): boolean {
  return posix.normalize(`/${a}/`) === posix.normalize(`/${b}/`);
}

/** An empty volume's directory in POD/volumes/, made once for all the apps that mount it. */
function volumeOps(podPath: string, m: AppMount, made: Set<string>): MountOp[] {
  const { volume } = m;
  if (volume.kind !== 'empty' || made.has(volume.name)) return [];
  made.add(volume.name);
  const mode = parseInt(volume.mode ?? '0755', 8);
  return [{ op: 'mkdir', target: emptyVolumeDir(podPath, volume), owner: { mode, uid: volume.uid ?? 0, gid: volume.gid ?? 0 } }];
}

function volumeBind(podPath: string, m: AppMount, appRoot: string): MountOp {
  const { volume } = m;
  const target: InRoot = { root: appRoot, path: m.path };
  if (volume.kind === 'empty') return bind(emptyVolumeDir(podPath, volume), target, { readOnly: m.readOnly });
  if (!volume.source) throw new UserError(`volume ${volume.name}: a host volume needs a source`);
  return bind(volume.source, target, { recursive: volume.recursive ?? true, readOnly: m.readOnly });
}

function emptyVolumeDir(podPath: string, volume: Volume): InRoot {
  if (!AC_NAME.test(volume.name)) throw new UserError(`volume ${JSON.stringify(volume.name)}: not an AC name`);
  return { root: podPath, path: join(POD_FILES.volumesDir, volume.name) };
}
