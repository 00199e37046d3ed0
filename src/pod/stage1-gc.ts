import { execFile } from 'node:child_process';
import { join, resolve, sep } from 'node:path';
import { StorePaths } from '../store/layout.ts';
import { lockFile } from '../sys/flock.ts';
import { exists } from '../util/fs.ts';
import type { PodInfo } from './info.ts';

// The stage1 gc entrypoint (docs/stage1-interface.md, "enter, stop, gc"): run from the
// pod's stage1 tree in the store, not from inside the pod, as `init gc UUID` with the pod
// directory as working directory, to release what stage1 set up outside the pod's
// namespaces. The tree is held with a shared lock meanwhile so image gc cannot take it.

const TIMEOUT_MS = 60_000;

/** The stage1Gc hook for gcPods and removePod: the pod's own stage1, from the store under `dir`. */
export function stage1GcFromStore(dir: string): (pod: PodInfo) => Promise<void> {
  return async (pod) => {
    const stage1 = pod.runtime?.stage1;
    if (!stage1) return; // never got as far as choosing a stage1: nothing outside to release
    const paths = new StorePaths(dir);
    const rootfs = join(paths.tree(stage1.treeId), 'rootfs');
    const entry = resolve(rootfs, `.${stage1.entrypoints.gc}`);
    if (!entry.startsWith(rootfs + sep)) throw new Error(`stage1 gc: entrypoint "${stage1.entrypoints.gc}" is outside the stage1 rootfs`);
    if (!(await exists(entry))) throw new Error(`stage1 gc: ${entry} is gone (the stage1 tree was removed)`);
    const lock = await lockFile(paths.treeLock(stage1.treeId), 'shared');
    try {
      await run(entry, ['gc', pod.uuid], pod.path);
    } finally {
      lock.release();
    }
  };
}

function run(file: string, args: string[], cwd: string): Promise<void> {
  const env: Record<string, string> = { PATH: process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin' };
  for (const [k, v] of Object.entries(process.env)) if (k.startsWith('QEMU_') && v !== undefined) env[k] = v;
  return new Promise((done, fail) => {
    execFile(file, args, { cwd, env, timeout: TIMEOUT_MS, encoding: 'utf8' }, (err, _stdout, stderr) => {
      if (!err) return done();
      const last = stderr.trim().split('\n').pop();
      fail(new Error(`stage1 gc: ${last || err.message.split('\n')[0]}`));
    });
  });
}
