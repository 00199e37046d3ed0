import { chmodSync, chownSync, closeSync, fsyncSync, lstatSync, openSync, readFileSync, readlinkSync, realpathSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, posix } from 'node:path';
import { parseImageManifest } from '../appc/image-manifest.ts';
import type { MountPoint, PodManifest } from '../appc/types.ts';
import { POD_FILES } from '../pod/layout.ts';
import type { PodRuntime } from '../pod/runtime.ts';
import { loadFfi } from '../sys/ffi.ts';
import type { FileLock } from '../sys/flock.ts';
import {
  CLONE_NEWIPC,
  CLONE_NEWNET,
  CLONE_NEWNS,
  CLONE_NEWUTS,
  MNT_DETACH,
  MS_BIND,
  MS_NODEV,
  MS_NOEXEC,
  MS_NOSUID,
  MS_PRIVATE,
  MS_RDONLY,
  MS_REC,
  MS_REMOUNT,
  clearCloseOnExec,
  execve,
  mount,
  pivotRoot,
  sethostname,
  setns,
  umount2,
  unshare,
} from '../sys/linux.ts';
import { UserError, withContext } from '../util/errors.ts';
import type { PodCgroups } from './cgroups.ts';
import { notifySocketPath, stage1Env } from './entrypoints.ts';
import { planMounts, type InRoot, type MountFlag, type MountOp, type MountPlan } from './mount-plan.ts';
import { mkdirInRoot, resolveInRoot, touchInRoot } from './secure-path.ts';
import { NETNS_FILE } from './network.ts';
import { serializeStage1Conf } from './stage1-conf.ts';

// The hand-over from stage0 to stage1 (docs/stage1-interface.md, "run", steps 1-5):
// Node makes the pod's mount, UTS and IPC namespaces, mounts its filesystem, writes
// stage1.conf, pivots into the stage1 root and replaces itself with the stage1 init,
// so no Node process stays resident while the pod runs.
//
// Between unshare and execve only synchronous calls run, on the main thread: libuv's
// pool threads stay in the host's mount namespace, so an async fs call would act on
// the host's mounts, and the exec'd init must find every mount in its own namespace.
//
// A failure after unshare leaves this process in a private, half-built mount namespace
// whose root may already be the pod's. The caller must therefore not go on with any
// other work (store writes, pod state changes): it prints the error and exits 254, and
// the namespace and its mounts die with the process. Failures before unshare (a bad
// manifest, no FFI) leave the process as it was. Whatever the caller still has to say
// (logs, progress) must be written before: after execve nothing of Node is left to
// flush it (writes to files, pipes and terminals are synchronous on Linux, but a
// logger's worker thread is not).
//
// Where koffi cannot load (a Pi Zero), handover-native.ts hands the same plan
// (planHandOver) to the stage1 init, which does these steps itself.

export interface HandOverPod {
  /** The pod directory, locked by `lock`. */
  path: string;
  runtime: PodRuntime;
  /** The reified pod manifest (POD/pod). */
  manifest: PodManifest;
  /** The exclusive flock on the pod directory: it stays held by stage1, and so the pod reads as running. */
  lock: FileLock;
}

export interface HandOverOptions {
  /** A tree's directory in the store, holding `manifest` and `rootfs`. */
  treePath(treeId: string): string;
  /** Whether fd 0 is a terminal: with --interactive it becomes the pod's /dev/console. */
  stdinIsTty: boolean;
  /** The pod's cgroups (cgroups.ts), made already: bound into the stage1 root and named in stage1.conf, for stage1 to join. */
  cgroups?: PodCgroups | undefined;
}

/** What both hand-overs (this one and handover-native.ts) start from; nothing is changed yet. */
export interface HandOverPlan {
  /** The pod directory, a real path. */
  podPath: string;
  /** The run entrypoint, a path in the stage1 root. */
  entrypoint: string;
  plan: MountPlan;
  /** stage1.conf's bytes, for POD/rkt/stage1.conf. */
  conf: Buffer;
  /** The environment of the run entrypoint, as NAME=value strings. */
  env: string[];
  /** With a private network: POD/netns, the namespace network.ts made, which the pod joins instead of making one. */
  netns?: string;
}

/**
 * Checks the pod and plans its hand-over: everything that can fail without changing
 * anything, so a failure here leaves the process and the host as they were.
 */
export function planHandOver(pod: HandOverPod, opts: HandOverOptions): HandOverPlan {
  const { runtime } = pod;
  const podPath = step('resolve the pod directory', () => realpathSync(pod.path));
  const entrypoint = runtime.stage1.entrypoints.run;
  if (!entrypoint.startsWith('/')) throw new UserError(`stage1: run entrypoint ${JSON.stringify(entrypoint)} is not an absolute path`);
  const tty = opts.stdinIsTty ? step('find the terminal on stdin', () => readlinkSync('/proc/self/fd/0')) : undefined;
  const plan = planMounts({
    podPath,
    runtime,
    manifest: pod.manifest,
    imageMountPoints: imageMountPoints(pod, opts.treePath),
    tty,
    treePath: opts.treePath,
    notifySocket: notifySocketPath(),
  });
  // The cgroup directories of the pods, where stage1 (and only stage1: apps are chrooted) joins and removes this pod's.
  for (const { source, target } of opts.cgroups?.binds ?? []) {
    plan.ops.push({ op: 'bind', source, target: { root: plan.stage1Root, path: target }, recursive: false, readOnly: false, flags: ['nosuid', 'nodev', 'noexec'] });
  }
  const conf = serializeStage1Conf(runtime.apps, { interactive: runtime.options.interactive, cgroups: opts.cgroups });
  const netns = runtime.options.net === 'private' ? join(podPath, NETNS_FILE) : undefined;
  return { podPath, entrypoint, plan, conf, env: stage1Env(), ...(netns ? { netns } : {}) };
}

/** Replaces this process with the pod's stage1 init; returns only by throwing (see above). */
export function handOver(pod: HandOverPod, opts: HandOverOptions): never {
  const { runtime } = pod;
  // Everything that can be checked is checked before the process changes.
  loadFfi();
  const { podPath, entrypoint, plan, conf, env, netns } = planHandOver(pod, opts);

  let flags = CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC;
  if (runtime.options.net === 'none') flags |= CLONE_NEWNET;
  // Opened before unshare, close-on-exec (Node's default), so nothing of it reaches stage1.
  const netnsFd = netns === undefined ? undefined : step(`open the network namespace ${netns}`, () => openSync(netns, 'r'));
  step('unshare', () => unshare(flags));
  if (netnsFd !== undefined) step(`join the network namespace ${netns}`, () => setns(netnsFd, CLONE_NEWNET, netns));
  step('make / private', () => mount(null, '/', null, MS_REC | MS_PRIVATE));
  executePlan(plan);
  // Not synced: stage1 reads it at once, and no pod survives a crash to read it again.
  step('write stage1.conf', () => writeFileSync(join(podPath, POD_FILES.stage1Conf), conf, { mode: 0o644 }));
  step('set the hostname', () => sethostname(runtime.options.hostname));
  step('pivot_root into the stage1 root', () => {
    process.chdir(plan.stage1Root);
    // The old root ends up on top of the new one; detaching it leaves only the pod's.
    pivotRoot('.', '.');
    umount2('.', MNT_DETACH);
    process.chdir('/');
  });
  step('keep stdio and the pod lock open', () => {
    for (const fd of [0, 1, 2, pod.lock.fd]) clearCloseOnExec(fd);
  });
  return step(`execute stage1 ${entrypoint}`, () => execve(entrypoint, [entrypoint, 'run'], env));
}

/** The image mountPoints of apps whose manifest entry carries no `app`, from their trees. */
function imageMountPoints(pod: HandOverPod, treePath: (treeId: string) => string): Map<string, MountPoint[]> {
  const result = new Map<string, MountPoint[]>();
  for (const app of pod.runtime.apps) {
    if (pod.manifest.apps.find((a) => a.name === app.name)?.app) continue;
    const file = join(treePath(app.treeId), 'manifest');
    const manifest = step(`read the image manifest of app ${app.name}`, () => parseImageManifest(readFileSync(file)));
    result.set(app.name, manifest.app?.mountPoints ?? []);
  }
  return result;
}

/** Runs the plan's operations in order, in this process's (private) mount namespace. */
function executePlan(plan: MountPlan): void {
  const roots = new Set<string>();
  const inRoot = (p: InRoot) => {
    if (!roots.has(p.root)) {
      // A root is a path stage0 controls; a symlink in it would mean an image redirected it.
      const real = realpathSync(p.root);
      if (real !== p.root) throw new Error(`root \`${p.root}\` resolves to \`${real}\`: an image has a symlink in its way`);
      roots.add(p.root);
    }
    return p;
  };
  for (const op of plan.ops) {
    step(describeOp(op), () => executeOp(op, inRoot));
  }
}

function executeOp(op: MountOp, inRoot: (p: InRoot) => InRoot): void {
  const { root, path } = inRoot(op.target);
  switch (op.op) {
    case 'mkdir': {
      const dir = mkdirInRoot(root, path);
      if (op.owner) {
        chownSync(dir, op.owner.uid, op.owner.gid);
        chmodSync(dir, op.owner.mode);
      }
      return;
    }
    case 'mount':
      return mount(op.source, mkdirInRoot(root, path), op.fstype, mountFlags(op.flags), op.data);
    case 'bind': {
      const source = typeof op.source === 'string' ? op.source : resolveInRoot(inRoot(op.source).root, op.source.path);
      const target = statSync(source).isDirectory() ? mkdirInRoot(root, path) : touchInRoot(root, path);
      mount(source, target, null, MS_BIND | (op.recursive ? MS_REC : 0));
      if (op.readOnly || op.flags.length > 0) {
        mount(null, target, null, MS_REMOUNT | MS_BIND | (op.readOnly ? MS_RDONLY : 0) | mountFlags(op.flags));
      }
      return;
    }
    case 'bind-device':
      return mount(op.source, touchInRoot(root, path), null, MS_BIND);
    case 'symlink': {
      const link = join(mkdirInRoot(root, posix.dirname(path)), basename(path));
      try {
        symlinkSync(op.linkTo, link);
      } catch (err) {
        // Already there as the same link (a copy from an earlier run): fine.
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || !lstatSync(link).isSymbolicLink() || readlinkSync(link) !== op.linkTo) throw err;
      }
      return;
    }
    case 'remount-ro':
      return mount(null, resolveInRoot(root, path), null, MS_REMOUNT | MS_BIND | MS_RDONLY | mountFlags(op.flags));
  }
}

const FLAG_BITS: Record<MountFlag, number> = { nosuid: MS_NOSUID, nodev: MS_NODEV, noexec: MS_NOEXEC };

function mountFlags(flags: readonly MountFlag[]): number {
  return flags.reduce((bits, f) => bits | FLAG_BITS[f], 0);
}

function describeOp(op: MountOp): string {
  const at = `${posix.join('/', op.target.path)} in ${op.target.root}`;
  switch (op.op) {
    case 'mkdir':
      return `make directory ${at}`;
    case 'mount':
      return `mount ${op.fstype} at ${at}`;
    case 'bind':
      return `bind ${typeof op.source === 'string' ? op.source : join(op.source.root, op.source.path)} at ${at}`;
    case 'bind-device':
      return `bind ${op.source} at ${at}`;
    case 'symlink':
      return `link ${at} to ${op.linkTo}`;
    case 'remount-ro':
      return `make ${at} read-only`;
  }
}

/** Writes a file and syncs it and its directory (sync calls only: see above). */
export function writeSynced(path: string, data: Buffer): void {
  const fd = openSync(path, 'w', 0o644);
  try {
    writeFileSync(fd, data);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  const dir = openSync(dirname(path), 'r');
  try {
    fsyncSync(dir);
  } finally {
    closeSync(dir);
  }
}

/** Runs one step; a failure names it (`run: <step>: <error>`), keeping a UserError's exit code. */
export function step<T>(name: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw withContext(`run: ${name}`, err);
  }
}
