import { join } from 'node:path';
import { POD_FILES } from '../pod/layout.ts';
import { withContext } from '../util/errors.ts';
import { entrypointPath, spawnForwarding } from './entrypoints.ts';
import { planHandOver, step, writeSynced, type HandOverOptions, type HandOverPod } from './handover.ts';
import { PLAN_CONF_FILE, serializePlanConf } from './plan-conf.ts';

// The hand-over where koffi cannot load (a Pi Zero: koffi ships no ARMv6 build), so
// this process can neither unshare, mount, pivot_root nor execve. The plan that
// handover.ts would execute goes to a file instead, and the stage1 init's `takeover`
// verb, run from the stage1 tree in the store, executes it: the same namespaces, the
// same mounts resolved inside their roots, the hostname, pivot_root, and then it execs
// the run entrypoint in the new root, as stage0 would have. This process stays beside
// it, forwarding signals, and gives back its exit status; that costs a resident Node
// for the pod's life, which is the price of running at all.

/** The pod lock's fd number in the takeover process: the first after stdio. */
const LOCK_FD = 3;

export interface NativeHandOverOptions extends HandOverOptions {
  /** rkt's --dir: the store holding the stage1 tree the takeover runs from. */
  dir: string;
}

/** Runs the pod through stage1's takeover and resolves with its exit status (128 + a signal that killed it). */
export async function handOverNative(pod: HandOverPod, opts: NativeHandOverOptions): Promise<number> {
  const { runtime } = pod;
  const { podPath, entrypoint, plan, conf, env, netns } = planHandOver(pod, opts);
  const takeover = await entrypointPath(opts.dir, runtime.stage1, 'run');
  const planConf = serializePlanConf({ plan, hostname: runtime.options.hostname, net: runtime.options.net, netns, lockFd: LOCK_FD, entrypoint });
  step('write stage1.conf', () => writeSynced(join(podPath, POD_FILES.stage1Conf), conf));
  const planFile = join(podPath, PLAN_CONF_FILE);
  step('write the plan for stage1', () => writeSynced(planFile, planConf));
  const exited = spawnForwarding(takeover, ['takeover', planFile], env, [pod.lock.fd]);
  // The takeover has its own fd of the lock's open file (spawn returns after the fork):
  // from here the pod reads as running exactly as long as stage1 lives, as after execve.
  pod.lock.release();
  try {
    return await exited;
  } catch (err) {
    throw withContext(`run: execute stage1 ${takeover} takeover`, err);
  }
}
