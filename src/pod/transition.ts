import { mkdir, rename, utimes } from 'node:fs/promises';
import { dirname } from 'node:path';
import { tryLockIfPresent, type FileLock } from '../sys/flock.ts';
import { syncDirectory } from '../util/atomic-file.ts';
import { UserError } from '../util/errors.ts';
import { PodPaths, type PodStateDir } from './layout.ts';
import { locatePod, newPodUuid } from './state.ts';

// Creating a pod and moving it between state directories. A move is one rename(2) of
// the pod directory, then an fsync of both parents: after a crash the pod is in exactly
// one of the two, never in both or neither. (A new pod's move from embryo/ to prepare/
// is the exception: see createEmbryo.) The caller holds the pod's lock; since the lock
// is on the directory's inode, it follows the pod across renames.
//
// Each move also sets the pod directory's mtime to the moment of the move (before the
// rename, so a crash in between leaves it in the old place with a fresh time, which is
// harmless, and again after it): the mtime says since when a pod is in its state. gc
// reads it for --expire-prepared and --grace-period; nothing else writes at the top of a
// pod directory once it is prepared.

const POD_DIR_MODE = 0o750;
const STATE_DIR_MODE = 0o755;
const CREATE_ATTEMPTS = 3;

export interface Embryo {
  uuid: string;
  /** pods/prepare/<uuid>: the pod is `preparing` while `lock` is held. */
  path: string;
  /** The pod's exclusive lock; releasing it leaves the pod `aborted-prepare` unless it moved on. */
  lock: FileLock;
}

/**
 * A new pod, as rkt makes one: created in embryo/, locked exclusively, then moved to
 * prepare/, and returned there with the lock held.
 */
export async function createEmbryo(dir: string): Promise<Embryo> {
  const paths = new PodPaths(dir);
  await ensureStateDir(paths, 'embryo');
  for (let attempt = 1; ; attempt++) {
    const uuid = newPodUuid();
    const embryo = paths.pod('embryo', uuid);
    await mkdir(embryo, { mode: POD_DIR_MODE });
    // Until it is locked an embryo is fair game for gc; if gc took it, start over.
    const lock = tryLockIfPresent(embryo);
    if (!lock) {
      if (attempt >= CREATE_ATTEMPTS) throw new UserError(`pod: cannot create a pod in ${paths.stateDir('embryo')}: gc keeps removing it`);
      continue;
    }
    try {
      // Not synced: a crash before the pod's next move (a synced one) leaves it unlocked
      // in embryo/ or prepare/, and gc removes it from either.
      const path = await movePod(dir, uuid, 'embryo', 'prepare', new Date(), { durable: false });
      return { uuid, path, lock: { path, fd: lock.fd, release: () => lock.release() } };
    } catch (err) {
      lock.release();
      throw err;
    }
  }
}

/** Moves a pod from one state directory to another; returns its new path. */
export function transition(dir: string, uuid: string, from: PodStateDir, to: PodStateDir): Promise<string> {
  return movePod(dir, uuid, from, to, new Date());
}

/** `transition` with the state's start time given (gc marks with its `now`); `durable: false` skips the fsyncs. */
export async function movePod(
  dir: string,
  uuid: string,
  from: PodStateDir,
  to: PodStateDir,
  since: Date,
  opts: { durable?: boolean } = {},
): Promise<string> {
  const paths = new PodPaths(dir);
  const source = paths.pod(from, uuid);
  const target = paths.pod(to, uuid);
  await ensureStateDir(paths, to);
  try {
    await utimes(source, since, since);
    await rename(source, target);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw await notIn(dir, uuid, from);
    if (code === 'EEXIST' || code === 'ENOTEMPTY') throw new UserError(`pod ${uuid}: ${to}/ already holds a pod of that UUID`);
    throw err;
  }
  await utimes(target, since, since);
  if (opts.durable ?? true) {
    await syncDirectory(paths.stateDir(from));
    await syncDirectory(paths.stateDir(to));
  }
  return target;
}

async function notIn(dir: string, uuid: string, from: PodStateDir): Promise<UserError> {
  const where = await locatePod(dir, uuid);
  return new UserError(`pod ${uuid} is not in ${from}/: ${where ? `it is in ${where}/` : 'there is no such pod'}`);
}

/** Creates pods/ and pods/<state>/ if needed, durably. */
async function ensureStateDir(paths: PodPaths, state: PodStateDir): Promise<void> {
  for (const d of [paths.root, paths.stateDir(state)]) {
    if (await mkdir(d, { recursive: true, mode: STATE_DIR_MODE })) await syncDirectory(dirname(d));
  }
}
