import { lstat, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { sweepOrphanCgroups } from '../stage0/cgroups.ts';
import { syncDirectory } from '../util/atomic-file.ts';
import { describeError } from '../util/errors.ts';
import { log } from '../util/log.ts';
import type { PodInfo } from './info.ts';
import { listPods } from './lookup.ts';
import { deleteLocked, garbageDirFor, lockPod, type Stage1Gc } from './remove.ts';
import { stateDirOf } from './state.ts';
import { movePod } from './transition.ts';

// `rkt gc` for pods, as CoreOS rkt does it, in two passes.
// Mark: an exited pod (run/, unlocked) moves to exited-garbage/; a prepare whose
// preparer died (prepare/, unlocked) and a prepared pod older than --expire-prepared move
// to garbage/; an embryo nobody holds is removed. A move stamps the pod directory's
// mtime (transition.ts), which is from then on the time the pod was marked.
// Sweep (unless markOnly): a pod in exited-garbage/ marked at least --grace-period ago
// is handed to stage1's gc and deleted; everything in garbage/ is deleted.
// Every step takes the pod's exclusive lock without waiting and skips a pod someone
// holds; a step that fails is reported through `warn` and gc goes on with the next pod.

export const DEFAULT_POD_GRACE_PERIOD_MS = 30 * 60_000;
export const DEFAULT_EXPIRE_PREPARED_MS = 24 * 3_600_000;

export interface GcPodsOptions {
  /** How long a pod stays in exited-garbage/ before it is deleted (rkt: 30m). */
  gracePeriodMs: number;
  /** How long a pod may stay prepared and not run (rkt: 24h). */
  expirePreparedMs: number;
  /** Mark only: move pods to the garbage directories, delete nothing. */
  markOnly: boolean;
  /** "Now", for the two ages above; a parameter so tests need no clock. */
  now?: Date;
  /** Called before a pod that ran is deleted (stage1-gc.ts). */
  stage1Gc?: Stage1Gc;
  /** Where a pod that could not be handled is reported; the default logs a warning. */
  warn?: (line: string) => void;
}

export interface GcPodsReport {
  /** UUIDs moved to exited-garbage/ or garbage/ by this run. */
  marked: string[];
  /** UUIDs deleted by this run (embryos included). */
  removed: string[];
}

export async function gcPods(dir: string, opts: GcPodsOptions): Promise<GcPodsReport> {
  const now = opts.now ?? new Date();
  const warn = opts.warn ?? ((line: string) => log().warn(line));
  const report: GcPodsReport = { marked: [], removed: [] };
  for (const pod of await listPods(dir)) {
    try {
      if (pod.state === 'embryo') {
        if (await removeEmbryo(pod)) report.removed.push(pod.uuid);
      } else if (await shouldMark(pod, now, opts.expirePreparedMs)) {
        if (await mark(dir, pod, now)) report.marked.push(pod.uuid);
      }
    } catch (err) {
      warn(`pod ${pod.uuid}: cannot mark it as garbage: ${describeError(err)}`);
    }
  }
  if (opts.markOnly) return report;
  for (const pod of await listPods(dir)) {
    try {
      if (await shouldDelete(pod, now, opts.gracePeriodMs)) {
        if (await deleteUnlessHeld(dir, pod, opts.stage1Gc, warn, now)) report.removed.push(pod.uuid);
      }
    } catch (err) {
      warn(`pod ${pod.uuid}: cannot remove it: ${describeError(err)}`);
    }
  }
  // Empty pod cgroups whose pod is gone without a gc (docs/isolators.md).
  sweepOrphanCgroups();
  return report;
}

async function shouldMark(pod: PodInfo, now: Date, expirePreparedMs: number): Promise<boolean> {
  switch (pod.state) {
    case 'exited':
    case 'aborted-prepare':
      return true;
    case 'prepared':
      return old(await since(pod), now, expirePreparedMs);
    default:
      return false;
  }
}

async function shouldDelete(pod: PodInfo, now: Date, gracePeriodMs: number): Promise<boolean> {
  if (pod.state === 'garbage') return true;
  return pod.state === 'exited-garbage' && old(await since(pod), now, gracePeriodMs);
}

/** The moment the pod entered its state directory: its mtime, stamped by the move (ms, rounded down). */
async function since(pod: PodInfo): Promise<number> {
  return Math.floor((await lstat(pod.path)).mtimeMs);
}

function old(sinceMs: number, now: Date, ageMs: number): boolean {
  return sinceMs + ageMs <= now.getTime();
}

async function mark(dir: string, pod: PodInfo, now: Date): Promise<boolean> {
  const lock = lockPod(pod.path);
  if (!lock || lock === 'gone') return false;
  try {
    const from = stateDirOf(pod.path);
    await movePod(dir, pod.uuid, from, garbageDirFor(from), now);
    return true;
  } finally {
    lock.release();
  }
}

/** An embryo is a pod whose creator died before it locked it (or between mkdir and lock: see createEmbryo). */
async function removeEmbryo(pod: PodInfo): Promise<boolean> {
  const lock = lockPod(pod.path);
  if (!lock || lock === 'gone') return false;
  try {
    await rm(pod.path, { recursive: true, force: true });
    await syncDirectory(dirname(pod.path));
    return true;
  } finally {
    lock.release();
  }
}

async function deleteUnlessHeld(dir: string, pod: PodInfo, stage1Gc: Stage1Gc | undefined, warn: (line: string) => void, now: Date): Promise<boolean> {
  const lock = lockPod(pod.path);
  if (!lock || lock === 'gone') return false;
  try {
    await deleteLocked(dir, pod, stage1Gc, warn, now);
    return true;
  } finally {
    lock.release();
  }
}
