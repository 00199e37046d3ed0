import { setTimeout as sleep } from 'node:timers/promises';
import { UserError } from '../util/errors.ts';
import { readPod, type PodInfo } from './info.ts';
import { scanPods } from './state.ts';

// Finding pods: all of them (rkt list, gc), or one by UUID or a unique prefix of it, as
// users copy them from `rkt list` (8 characters) or type them (2 are enough if unique).

const MIN_PREFIX = 2;
const PREFIX_RE = /^[0-9a-f-]+$/;

/** Every pod, oldest first. A pod deleted while the list is read is left out. */
export async function listPods(dir: string): Promise<PodInfo[]> {
  const pods: PodInfo[] = [];
  for (const [uuid, stateDir] of await scanPods(dir)) {
    const info = await readPod(dir, uuid, stateDir);
    if (info) pods.push(info);
  }
  return pods.sort((a, b) => (a.createdAt < b.createdAt ? -1 : a.createdAt > b.createdAt ? 1 : a.uuid.localeCompare(b.uuid)));
}

/** The UUIDs a prefix matches (validated); a whole UUID matches itself only. */
export async function matchPods(dir: string, uuidOrPrefix: string): Promise<{ prefix: string; uuids: string[] }> {
  const prefix = uuidOrPrefix.toLowerCase();
  if (prefix.length < MIN_PREFIX || !PREFIX_RE.test(prefix)) {
    throw new UserError(`pod UUID "${uuidOrPrefix}" is too short or malformed: give at least ${MIN_PREFIX} of its hex digits`);
  }
  const uuids = [...(await scanPods(dir)).keys()].filter((u) => u.startsWith(prefix)).sort();
  return { prefix, uuids };
}

/** The pod with this UUID or unique UUID prefix. */
export async function getPod(dir: string, uuidOrPrefix: string): Promise<PodInfo> {
  const { prefix, uuids } = await matchPods(dir, uuidOrPrefix);
  if (uuids.length > 1) {
    throw new UserError(`pod UUID prefix "${prefix}" is ambiguous, it matches ${uuids.map((u) => u.slice(0, 8)).join(', ')}: give more digits`);
  }
  const info = uuids[0] === undefined ? undefined : await readPod(dir, uuids[0]);
  if (!info) throw new UserError(`no pod has a UUID starting with "${prefix}": see \`rkt list\``);
  return info;
}

/** States a pod leaves on its own, to `waitForExit`. */
const NOT_YET_EXITED = new Set(['embryo', 'preparing', 'prepared', 'running']);

/**
 * Waits until the pod has run and exited, as rkt's `status --wait`: a pod still being
 * prepared or prepared and not yet run is waited for too. Polls every 100 ms (50 at
 * first), so the wait costs no CPU and needs no lock. With `timeoutMs`, a pod still
 * not exited by then is a one-line error.
 */
export async function waitForExit(dir: string, uuid: string, timeoutMs?: number): Promise<PodInfo> {
  const deadline = timeoutMs === undefined ? Infinity : Date.now() + timeoutMs;
  let info = await getPod(dir, uuid);
  for (let delay = 50; NOT_YET_EXITED.has(info.state); delay = 100) {
    const left = deadline - Date.now();
    if (left <= 0) throw new UserError(`pod ${info.uuid} is still ${info.state} after ${formatMs(timeoutMs ?? 0)}`);
    await sleep(Math.min(delay, left));
    info = await getPod(dir, info.uuid);
  }
  return info;
}

function formatMs(ms: number): string {
  if (ms % 3_600_000 === 0 && ms > 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0 && ms > 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}
