import { isatty } from 'node:tty';
import type { PodManifest } from '../appc/types.ts';
import type { RktContext } from '../config/context.ts';
import { getPod, transition } from '../pod/pods.ts';
import type { PodRuntime } from '../pod/runtime.ts';
import { StorePaths } from '../store/layout.ts';
import { ffiStatus } from '../sys/ffi.ts';
import { tryLockFile, type FileLock } from '../sys/flock.ts';
import { UserError } from '../util/errors.ts';
import { setUpPodCgroups } from './cgroups.ts';
import { handOver } from './handover.ts';
import { handOverNative } from './handover-native.ts';
import { planPodNetwork } from './network.ts';
import { checkInteractive } from './preflight.ts';

// Starting a pod: its directory moves to run/ while locked, then this process becomes
// its stage1 (handover.ts). Nothing of Node stays: the exit status of `rkt run` is the
// pod's, given by stage1. Where koffi cannot load, stage1 sets the pod up itself
// (handover-native.ts) and this process waits beside it, exiting with its status.

export interface StartablePod {
  uuid: string;
  runtime: PodRuntime;
  manifest: PodManifest;
  lock: FileLock;
}

/** Moves a locked pod from `from` to run/ and hands over to stage1; never returns. */
export async function startPod(ctx: RktContext, pod: StartablePod, from: 'prepare' | 'prepared'): Promise<never> {
  const paths = new StorePaths(ctx.dir);
  // Networks and ports are checked before the move, and the pod joined to them after it (docs/networking.md).
  const joinNetworks = planPodNetwork(ctx.localConfig, pod, (id) => paths.tree(id));
  const path = await transition(ctx.dir, pod.uuid, from, 'run');
  joinNetworks?.(path);
  // The pod's cgroups and limits (docs/isolators.md), with a notice for each isolator ignored.
  const cgroups = setUpPodCgroups({ uuid: pod.uuid, path, manifest: pod.manifest }, ctx.warn);
  const opts = { treePath: (id: string) => paths.tree(id), stdinIsTty: isatty(0), cgroups };
  const ffi = ffiStatus();
  if (ffi.available) return handOver({ ...pod, path }, opts);
  ctx.warn(
    `rkt: the FFI part cannot load here (${ffiReason(ffi.reason)}): stage1 sets up the pod itself and rkt stays beside it while the pod runs (about 40 MB)`,
  );
  return process.exit(await handOverNative({ ...pod, path }, { ...opts, dir: ctx.dir }));
}

/**
 * Why koffi cannot load, without the wrapping of ffi.ts's error, which is written for
 * commands that fail without FFI ("this command needs ..., which cannot load on linux
 * armv6l: WHY; commands that only read images still work"); the whole text otherwise.
 */
function ffiReason(message: string): string {
  return /^this command needs .*?, which cannot load on \S+ \S+: (.*); commands that only read images still work$/s.exec(message)?.[1] ?? message;
}

/** `rkt run-prepared`: takes a prepared pod's lock and starts it. */
export async function startPrepared(ctx: RktContext, uuidOrPrefix: string, opts: { interactive?: boolean }): Promise<never> {
  const info = await getPod(ctx.dir, uuidOrPrefix);
  if (info.state !== 'prepared') throw new UserError(`run-prepared: pod ${info.uuid} is ${info.state}, not prepared`);
  const lock = tryLockFile(info.path, 'exclusive', { create: false });
  if (!lock) throw new UserError(`run-prepared: pod ${info.uuid} is being started by another rkt`);
  try {
    if (!info.runtime || !info.manifest) throw new UserError(`run-prepared: pod ${info.uuid} has no runtime.json or pod manifest: remove it with rkt rm`);
    const runtime = { ...info.runtime, options: { ...info.runtime.options, interactive: opts.interactive ?? info.runtime.options.interactive } };
    checkInteractive('run-prepared', runtime.options.interactive);
    return await startPod(ctx, { uuid: info.uuid, runtime, manifest: info.manifest, lock }, 'prepared');
  } catch (err) {
    lock.release();
    throw err;
  }
}
