import { readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseImageRef } from '../appc/discovery.ts';
import { classifySource } from '../fetch/source.ts';
import { ExitCode, UserError } from '../util/errors.ts';
import { podExitCode, podHasExited, readPod, type PodInfo } from './info.ts';
import { isPodUuid, scanPods } from './state.ts';

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


/** What a health check said: `ok`, or why not (one line, for the timeout's message). */
export interface HealthResult {
  ok: boolean;
  detail: string;
}

export interface WaitReadyOptions {
  /** Give up after this long (a UserError, exit status 1); default: wait for as long as it takes. */
  timeoutMs?: number;
  /** Run once the pod is ready, until it says ok; see `healthIntervalMs`. */
  health?: (pod: PodInfo, timeoutMs: number) => Promise<HealthResult>;
  /** Between two health checks; default 1 s. */
  healthIntervalMs?: number;
  /** How long one health check may take before it counts as failed; default 10 s. */
  healthTimeoutMs?: number;
}

/**
 * Waits until the pod runs with every app started (PodInfo.ready: stage1 wrote
 * rkt/ready) and, with `health`, until a health check passes too. A pod being prepared
 * or prepared and not yet run is waited for, as by `waitForExit`. A pod that stops
 * running, or an app that exits with a failure, before that is a UserError with exit
 * status ExitCode.notReady; running out of time one with the default status (1).
 */
export async function waitForReady(dir: string, uuid: string, opts: WaitReadyOptions = {}): Promise<PodInfo> {
  const deadline = opts.timeoutMs === undefined ? Infinity : Date.now() + opts.timeoutMs;
  const interval = opts.healthIntervalMs ?? 1000;
  let info = await getPod(dir, uuid);
  let lastHealth: HealthResult | undefined;
  let nextHealth = 0;
  for (let delay = 50; ; delay = 100) {
    if (!NOT_YET_EXITED.has(info.state)) {
      const was = info.readyAt ? ', after it was ready' : ' before it was ready';
      const code = podHasExited(info) && podExitCode(info) !== undefined ? ` with status ${podExitCode(info)}` : '';
      throw new UserError(`pod ${info.uuid} is ${info.state}${code}${was}`, ExitCode.notReady);
    }
    const failed = info.state === 'running' && !info.ready ? info.apps.find((a) => a.exitCode !== undefined && a.exitCode !== 0) : undefined;
    if (failed) throw new UserError(`pod ${info.uuid}: app ${failed.name} exited with status ${failed.exitCode} before the pod was ready`, ExitCode.notReady);
    if (info.ready && Date.now() >= nextHealth) {
      if (!opts.health) return info;
      const left = deadline - Date.now();
      lastHealth = await opts.health(info, Math.max(1, Math.min(opts.healthTimeoutMs ?? 10_000, left)));
      if (lastHealth.ok) return info;
      nextHealth = Date.now() + interval;
    }
    const left = deadline - Date.now();
    if (left <= 0) {
      const why = !info.ready ? `still ${info.state === 'running' ? 'starting its apps' : info.state}` : `ready, but its health check fails (${lastHealth?.detail ?? 'not run'})`;
      throw new UserError(`pod ${info.uuid} is not ready after ${formatMs(opts.timeoutMs ?? 0)}: ${why}`);
    }
    await sleep(Math.min(delay, left));
    info = await getPod(dir, info.uuid);
  }
}

/**
 * The pod whose UUID `file` holds (as `--uuid-file-save` wrote it), or undefined when
 * there is no such file or no such pod any more (removed by gc or rm). A file holding
 * anything but one whole UUID is a usage error: it is not one rkt wrote.
 */
export async function podFromUuidFile(dir: string, file: string): Promise<PodInfo | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  const uuid = text.trim();
  if (uuid === '') return undefined;
  if (!isPodUuid(uuid)) throw new UserError(`${file} holds ${JSON.stringify(uuid.slice(0, 60))}, not a pod UUID: remove it or choose another file`, ExitCode.usage);
  return readPod(dir, uuid);
}

/** An app as a command line asks for it: the image as written and the --name given, if any. */
export interface WantedApp {
  image: string;
  name?: string;
}

/**
 * Why `pod` is not what `apps` ask for, or undefined when it is: the same number of
 * apps, each with the --name given, an image ID the pod's starts with, or an image
 * name whose labels (version included; "latest" matches any) the pod's image has. An
 * image given as a file or URL cannot be told apart without reading it, and matches; so
 * do flags other than --name, and an empty list (--pod-manifest).
 */
export function podDiffers(pod: PodInfo, apps: readonly WantedApp[]): string | undefined {
  const have = pod.manifest?.apps;
  if (apps.length === 0 || !have) return undefined;
  if (have.length !== apps.length) return `it has ${have.length} app${have.length === 1 ? '' : 's'}, not ${apps.length}`;
  for (const [i, want] of apps.entries()) {
    const app = have[i]!;
    if (want.name !== undefined && want.name !== app.name) return `its app ${i + 1} is ${app.name}, not ${want.name}`;
    const source = classifySource(want.image);
    const image = `${app.image.name ?? app.image.id ?? '?'}${labelText(app.image.labels)}`;
    if (source.kind === 'id' && !(app.image.id ?? '').startsWith(source.id)) return `app ${app.name} runs ${image}, not ${source.id}`;
    if (source.kind === 'name') {
      const ref = parseImageRef(source.ref);
      const labels = new Map(app.image.labels.map((l) => [l.name, l.value]));
      const mismatch = ref.name !== app.image.name || Object.entries(ref.labels).some(([k, v]) => !(k === 'version' && v === 'latest') && labels.get(k) !== v);
      if (mismatch) return `app ${app.name} runs ${image}, not ${want.image}`;
    }
  }
  return undefined;
}

function labelText(labels: readonly { name: string; value: string }[]): string {
  const version = labels.find((l) => l.name === 'version')?.value;
  return version === undefined ? '' : `:${version}`;
}

function formatMs(ms: number): string {
  if (ms % 3_600_000 === 0 && ms > 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0 && ms > 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}
