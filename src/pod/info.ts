import type { Stats } from 'node:fs';
import { lstat, readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { parsePodManifest } from '../appc/pod-manifest.ts';
import type { PodManifest } from '../appc/types.ts';
import { POD_FILES, PodPaths, type PodStateDir } from './layout.ts';
import { RUNTIME_VERSION, type PodRuntime } from './runtime.ts';
import { isLocked, locatePod, lockMatters, stateDirOf, stateOf, type PodState } from './state.ts';

// What a pod is, read from its directory: the state (see state.ts), the manifest and
// runtime.json stage0 wrote, and what stage1 wrote under rkt/ while it ran. Pods are read
// while other processes change them, so a file that is not there (yet, or any more) is
// simply not reported, and a pod that moves while being read is read again.

/**
 * prepared: not started (yet, or ever); running: started and not exited; exited: ended,
 * with `exitCode` when stage1 recorded it (not when stage1 itself was killed).
 */
export type AppState = 'prepared' | 'running' | 'exited';

export interface AppInfo {
  name: string;
  imageId?: string;
  /** The image's name (an AC identifier, without version). */
  imageName?: string;
  state: AppState;
  exitCode?: number;
}

export interface PodInfo {
  uuid: string;
  state: PodState;
  /** The pod directory, <dir>/pods/<state dir>/<uuid>. */
  path: string;
  /** RFC 3339: runtime.json's createdAt, else the directory's birth time. */
  createdAt: string;
  /** RFC 3339: when stage1 wrote rkt/pid. */
  startedAt?: string;
  /** RFC 3339: when stage1 found every app started and wrote rkt/ready (kept after the pod exits). */
  readyAt?: string;
  /**
   * Whether the pod runs and every app in it has started: rkt/ready is there, or (a stage1
   * that does not write it) every app has rkt/started/<app>. What `status --wait-ready` waits for.
   */
  ready: boolean;
  /** RFC 3339: when the last app's exit status was written, once the pod is no longer running. */
  exitedAt?: string;
  /** The host PID of the pod's PID 1, while it runs. */
  pid?: number;
  manifest?: PodManifest;
  runtime?: PodRuntime;
  /** In manifest order. */
  apps: AppInfo[];
}

const READ_ATTEMPTS = 5;
/** Written (empty, atomically) by stage1 once every app has started, before it tells systemd READY=1. */
export const READY_FILE = join(POD_FILES.rkt, 'ready');

/** The pod `uuid` wherever it is now, or undefined if it is nowhere. */
export async function readPod(dir: string, uuid: string, firstGuess?: PodStateDir): Promise<PodInfo | undefined> {
  let stateDir = firstGuess ?? (await locatePod(dir, uuid));
  for (let attempt = 0; stateDir && attempt < READ_ATTEMPTS; attempt++) {
    const info = await readPodAt(new PodPaths(dir).pod(stateDir, uuid), uuid, stateDir);
    if (info) return info;
    stateDir = await locatePod(dir, uuid);
  }
  return undefined;
}

/** The pod at `path` if it stays there while it is read, else undefined. */
async function readPodAt(path: string, uuid: string, stateDir: PodStateDir): Promise<PodInfo | undefined> {
  const before = await statOrUndefined(path, lstat);
  if (!before?.isDirectory()) return undefined;
  const locked = lockMatters(stateDir) ? isLocked(path) : false;
  if (locked === undefined) return undefined;
  const state = stateOf(stateDir, locked);

  const manifest = await readManifest(path);
  const runtime = await readRuntime(path);
  const pidStat = await statOrUndefined(join(path, POD_FILES.pid));
  const readyStat = await statOrUndefined(join(path, READY_FILE));
  const ran = stateDir === 'run' || stateDir === 'exited-garbage';
  const running = state === 'running';
  const { apps, allStarted } = await readApps(path, manifest, runtime, { running });

  const ready = running && (readyStat !== undefined || allStarted);
  const info: PodInfo = { uuid, state, path, createdAt: createdAt(before, runtime), ready, apps };
  if (pidStat) info.startedAt = pidStat.mtime.toISOString();
  if (readyStat) info.readyAt = readyStat.mtime.toISOString();
  if (ran && !running) {
    const last = Math.max(...apps.map((a) => a.exitedMs ?? 0));
    if (last > 0) info.exitedAt = new Date(last).toISOString();
  }
  if (running) {
    const pid = await readPid(path);
    if (pid !== undefined) info.pid = pid;
  }
  if (manifest) info.manifest = manifest;
  if (runtime) info.runtime = runtime;
  info.apps = apps.map(({ exitedMs: _, ...app }) => app);

  // Moved or replaced while being read: what was read may mix two states.
  const after = await statOrUndefined(path, lstat);
  if (!after || after.ino !== before.ino) return undefined;
  return info;
}

/** The pod's exit status: the first app in manifest order that failed, else 0. */
export function podExitCode(info: PodInfo): number | undefined {
  for (const app of info.apps) if (app.exitCode !== undefined && app.exitCode !== 0) return app.exitCode;
  // An app with no status (stage1 killed, or the pod never started) leaves it unknown:
  // 0 would tell a script the pod succeeded.
  return info.apps.length > 0 && info.apps.every((a) => a.exitCode !== undefined) ? 0 : undefined;
}

/** Whether the pod ran and is over (exited, marked, or being deleted after it ran). */
export function podHasExited(info: PodInfo): boolean {
  const dir = stateDirOf(info.path);
  return info.state !== 'running' && (dir === 'run' || dir === 'exited-garbage');
}

function createdAt(st: Stats, runtime: PodRuntime | undefined): string {
  if (runtime && !Number.isNaN(Date.parse(runtime.createdAt))) return new Date(runtime.createdAt).toISOString();
  // ctime changes with every rename; the birth time (statx) does not, where the filesystem has one.
  return (st.birthtimeMs > 0 ? st.birthtime : st.ctime).toISOString();
}

interface AppRead extends AppInfo {
  exitedMs?: number;
}

async function readApps(
  path: string,
  manifest: PodManifest | undefined,
  runtime: PodRuntime | undefined,
  pod: { running: boolean },
): Promise<{ apps: AppRead[]; allStarted: boolean }> {
  const fromRuntime = new Map((runtime?.apps ?? []).map((a) => [a.name, a]));
  const listed = manifest
    ? manifest.apps.map((a) => ({ name: a.name, imageId: a.image.id ?? fromRuntime.get(a.name)?.imageId, imageName: a.image.name }))
    : [...fromRuntime.values()].map((a) => ({ name: a.name, imageId: a.imageId, imageName: undefined }));
  const started = new Set(await readdirOrEmpty(join(path, POD_FILES.startedDir)));
  const out: AppRead[] = [];
  for (const { name, imageId, imageName } of listed) {
    const app: AppRead = { name, state: 'prepared' };
    if (imageId) app.imageId = imageId;
    if (imageName) app.imageName = imageName;
    const status = await readStatus(join(path, POD_FILES.statusDir, name));
    if (status) {
      app.state = 'exited';
      app.exitCode = status.code;
      app.exitedMs = status.mtimeMs;
    } else if (started.has(name)) {
      app.state = pod.running ? 'running' : 'exited';
    }
    out.push(app);
  }
  return { apps: out, allStarted: out.length > 0 && out.every((a) => started.has(a.name)) };
}

async function readStatus(path: string): Promise<{ code: number; mtimeMs: number } | undefined> {
  const st = await statOrUndefined(path);
  const text = await readOptional(path);
  if (!st || text === undefined || !/^\d+\s*$/.test(text)) return undefined;
  return { code: Number.parseInt(text, 10), mtimeMs: st.mtimeMs };
}

async function readPid(path: string): Promise<number | undefined> {
  const text = await readOptional(join(path, POD_FILES.pid));
  if (text === undefined || !/^\d+\s*$/.test(text)) return undefined;
  const pid = Number.parseInt(text, 10);
  return pid > 0 ? pid : undefined;
}

/** The pod manifest; undefined while it is not written, or if it is not valid (list must still show the pod). */
async function readManifest(path: string): Promise<PodManifest | undefined> {
  const text = await readOptional(join(path, POD_FILES.manifest));
  if (text === undefined) return undefined;
  try {
    return parsePodManifest(text);
  } catch {
    return undefined;
  }
}

async function readRuntime(path: string): Promise<PodRuntime | undefined> {
  const text = await readOptional(join(path, POD_FILES.runtime));
  if (text === undefined) return undefined;
  try {
    const value = JSON.parse(text) as Partial<PodRuntime> | null;
    if (value?.version !== RUNTIME_VERSION || !Array.isArray(value.apps) || typeof value.stage1 !== 'object') return undefined;
    return value as PodRuntime;
  } catch {
    return undefined;
  }
}

function missing(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

async function readOptional(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if (missing(err)) return undefined;
    throw err;
  }
}

async function statOrUndefined(path: string, how: (path: string) => Promise<Stats> = stat): Promise<Stats | undefined> {
  try {
    return await how(path);
  } catch (err) {
    if (missing(err)) return undefined;
    throw err;
  }
}

async function readdirOrEmpty(path: string): Promise<string[]> {
  try {
    return await readdir(path);
  } catch (err) {
    if (missing(err)) return [];
    throw err;
  }
}
