import { realpath, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { removePodCgroups } from '../stage0/cgroups.ts';
import { NETNS_FILE, tearDownPodNetwork } from '../stage0/network.ts';
import { tryLockFile, type FileLock } from '../sys/flock.ts';
import { syncDirectory } from '../util/atomic-file.ts';
import { describeError, UserError } from '../util/errors.ts';
import { log } from '../util/log.ts';
import type { PodInfo } from './info.ts';
import type { PodStateDir } from './layout.ts';
import { getPod, matchPods } from './lookup.ts';
import { mountsUnder } from './mounts.ts';
import { isPodUuid, stateDirOf } from './state.ts';
import { movePod } from './transition.ts';

// Deleting pods, for `rkt rm` and gc. A pod is deleted under its exclusive lock, taken
// without waiting: a pod someone holds is theirs. A pod that ran is first moved to
// exited-garbage/ and handed to stage1's gc entrypoint; any other to garbage/. Then
// its directory goes: a plain recursive rm, which never follows symlinks, refused if
// anything is mounted inside it in our mount namespace (mounts.ts).

/** Releases what stage1 set up outside the pod (see stage1-gc.ts); given the pod as it was read. */
export type Stage1Gc = (pod: PodInfo) => Promise<void>;

export interface RemoveOptions {
  /** Where a failed stage1 gc is reported (the pod is removed anyway, as rkt does). */
  warn?: (line: string) => void;
}

const ATTEMPTS = 5;

/**
 * `rkt rm`: removes a pod in any state but running, preparing (or an embryo being
 * created) and deleting. Removing a pod that is not there is not an error when it is
 * named by its whole UUID, so `rkt rm` of one pod twice (or after gc) succeeds; a prefix
 * that matches nothing is an error, since it is more likely a typo than a pod gone.
 */
export async function removePod(dir: string, uuid: string, stage1Gc?: Stage1Gc, opts: RemoveOptions = {}): Promise<void> {
  await removePodReporting(dir, uuid, stage1Gc, opts);
}

/** `removePod`, telling what it did: the whole UUID of the pod removed, or undefined for a whole UUID of no pod. */
export async function removePodReporting(
  dir: string,
  uuidOrPrefix: string,
  stage1Gc?: Stage1Gc,
  opts: RemoveOptions = {},
): Promise<string | undefined> {
  for (let attempt = 1; ; attempt++) {
    const { prefix, uuids } = await matchPods(dir, uuidOrPrefix);
    if (uuids.length === 0 && isPodUuid(prefix)) return undefined;
    const info = await getPod(dir, uuidOrPrefix);
    refuseBusy(info);
    const lock = lockPod(info.path);
    if (lock === 'gone') {
      // Moved on since it was read (a prepared pod that started running): read it again.
      if (attempt < ATTEMPTS) continue;
      throw new UserError(`pod ${info.uuid} keeps changing state: try again`);
    }
    if (!lock) throw new UserError(`pod ${info.uuid} is in use by another rkt process (it was ${info.state}): try again when it is done`);
    try {
      await deleteLocked(dir, info, stage1Gc, opts.warn, new Date());
    } finally {
      lock.release();
    }
    return info.uuid;
  }
}

function refuseBusy(info: PodInfo): void {
  switch (info.state) {
    case 'running':
      throw new UserError(`pod ${info.uuid} is running: stop it before removing it`);
    case 'preparing':
      throw new UserError(`pod ${info.uuid} is being prepared: wait for its rkt prepare or run to finish`);
    case 'deleting':
      throw new UserError(`pod ${info.uuid} is being removed by another rkt process`);
    default:
  }
}

/**
 * Moves a pod whose exclusive lock the caller holds to its garbage directory, runs
 * stage1's gc if it ran, and deletes it. `info.path` is where it was locked.
 */
export async function deleteLocked(dir: string, info: PodInfo, stage1Gc: Stage1Gc | undefined, warn = defaultWarn, now: Date): Promise<void> {
  // POD/netns, the pod's network namespace bound to a file (network.ts), is the one
  // mount a pod has in the host's namespace: its teardown below unmounts it.
  const netns = join(await realpath(info.path).catch(() => info.path), NETNS_FILE);
  const mounted = (await mountsUnder(info.path)).filter((m) => m !== netns);
  if (mounted.length > 0) {
    throw new UserError(`pod ${info.uuid}: ${mounted[0]} is mounted in this mount namespace; not removing the pod while it is`);
  }
  const from = stateDirOf(info.path);
  const to = garbageDirFor(from);
  const path = from === to ? info.path : await movePod(dir, info.uuid, from, to, now);
  if (stage1Gc && to === 'exited-garbage') {
    try {
      await stage1Gc({ ...info, path });
    } catch (err) {
      warn(`pod ${info.uuid}: stage1 gc failed, removing the pod anyway: ${describeError(err)}`);
    }
  }
  // Its networks (CNI DEL) and POD/netns; a DEL that fails is reported, and the pod goes anyway, as after a failed stage1 gc.
  tearDownPodNetwork(path, info.uuid, warn);
  // Its cgroups go first (a process left in them is killed: the pod is not running, we
  // hold its lock); if one stays, so does the pod, for the next gc to try again.
  await removePodCgroups(path, info.uuid);
  await rm(path, { recursive: true, force: true });
  await syncDirectory(dirname(path));
}

/** Where a pod in `from` goes before it is deleted: pods that ran to exited-garbage/, others to garbage/. */
export function garbageDirFor(from: PodStateDir): 'exited-garbage' | 'garbage' {
  return from === 'run' || from === 'exited-garbage' ? 'exited-garbage' : 'garbage';
}

/** The pod's exclusive lock if free now, null if held, 'gone' if the pod is no longer at `path`. */
export function lockPod(path: string): FileLock | null | 'gone' {
  try {
    return tryLockFile(path, 'exclusive', { create: false });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return 'gone';
    throw err;
  }
}

function defaultWarn(line: string): void {
  log().warn(line);
}
