import { isatty } from 'node:tty';
import type { PodManifest } from '../appc/types.ts';
import type { RktContext } from '../config/context.ts';
import { getPod, transition } from '../pod/pods.ts';
import type { PodRuntime } from '../pod/runtime.ts';
import { StorePaths } from '../store/layout.ts';
import { tryLockFile, type FileLock } from '../sys/flock.ts';
import { UserError } from '../util/errors.ts';
import { handOver } from './handover.ts';

// Starting a pod: its directory moves to run/ while locked, then this process becomes
// its stage1 (handover.ts). Nothing of Node stays: the exit status of `rkt run` is the
// pod's, given by stage1.

export interface StartablePod {
  uuid: string;
  runtime: PodRuntime;
  manifest: PodManifest;
  lock: FileLock;
}

/** Moves a locked pod from `from` to run/ and hands over to stage1; never returns. */
export async function startPod(ctx: RktContext, pod: StartablePod, from: 'prepare' | 'prepared'): Promise<never> {
  const path = await transition(ctx.dir, pod.uuid, from, 'run');
  const paths = new StorePaths(ctx.dir);
  return handOver({ ...pod, path }, { treePath: (id) => paths.tree(id), stdinIsTty: isatty(0) });
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
    return await startPod(ctx, { uuid: info.uuid, runtime, manifest: info.manifest, lock }, 'prepared');
  } catch (err) {
    lock.release();
    throw err;
  }
}
