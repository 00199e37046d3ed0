import { randomUUID } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { tryLockFile } from '../sys/flock.ts';
import { POD_STATE_DIRS, PodPaths, type PodStateDir } from './layout.ts';

// A pod's state, as CoreOS rkt reads it: the directory it is in, and whether its flock
// (on the pod directory itself) is held. Whoever holds the lock owns the pod: the
// preparer, stage1 while it runs (the lock fd survives its exec), gc or rm while they
// move or delete it. Every move happens under the lock, so a pod that is unlocked where
// it should be locked is the leftover of a process that died.

export const POD_STATES = [
  'embryo',
  'preparing',
  'aborted-prepare',
  'prepared',
  'running',
  'exited',
  'exited-garbage',
  'garbage',
  'deleting',
] as const;
export type PodState = (typeof POD_STATES)[number];

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export function newPodUuid(): string {
  return randomUUID();
}

export function isPodUuid(text: string): boolean {
  return UUID_RE.test(text);
}

/** The state directory a pod's path is in (its parent's name). */
export function stateDirOf(path: string): PodStateDir {
  return basename(dirname(path)) as PodStateDir;
}

/**
 * The UUIDs in each state directory, in lifecycle order. A pod only ever moves forward
 * in this order, so a scan in this order sees every pod at least once (a pod moving
 * during the scan may be seen twice: the later directory is the newer truth).
 */
export async function scanPods(dir: string): Promise<Map<string, PodStateDir>> {
  const paths = new PodPaths(dir);
  const found = new Map<string, PodStateDir>();
  for (const state of POD_STATE_DIRS) {
    for (const name of await readdirOrEmpty(paths.stateDir(state))) {
      if (isPodUuid(name)) found.set(name, state);
    }
  }
  return found;
}

/** The state directory `uuid` is in now, searched in lifecycle order; undefined if it is in none. */
export async function locatePod(dir: string, uuid: string): Promise<PodStateDir | undefined> {
  const paths = new PodPaths(dir);
  for (const state of POD_STATE_DIRS) {
    if ((await readdirOrEmpty(paths.stateDir(state))).includes(uuid)) return state;
  }
  return undefined;
}

/**
 * Whether another process holds the pod's lock, probed with a shared lock taken and
 * dropped at once (so two readers never disturb each other); undefined when nothing
 * is at `path` any more (the pod moved or went).
 */
export function isLocked(path: string): boolean | undefined {
  try {
    const lock = tryLockFile(path, 'shared', { create: false });
    if (!lock) return true;
    lock.release();
    return false;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw err;
  }
}

/** The state of a pod in `stateDir` whose lock is (or is not) held. */
export function stateOf(stateDir: PodStateDir, locked: boolean): PodState {
  switch (stateDir) {
    case 'embryo':
      return 'embryo';
    case 'prepare':
      return locked ? 'preparing' : 'aborted-prepare';
    case 'prepared':
      return 'prepared';
    case 'run':
      return locked ? 'running' : 'exited';
    case 'exited-garbage':
      return locked ? 'deleting' : 'exited-garbage';
    case 'garbage':
      return locked ? 'deleting' : 'garbage';
  }
}

/** Whether the lock tells anything in this directory; embryo/ and prepared/ read the same either way. */
export function lockMatters(stateDir: PodStateDir): boolean {
  return stateDir !== 'embryo' && stateDir !== 'prepared';
}

async function readdirOrEmpty(path: string): Promise<string[]> {
  try {
    return await readdir(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}
