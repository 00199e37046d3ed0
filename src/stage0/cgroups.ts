import { closeSync, constants, existsSync, lstatSync, mkdirSync, openSync, readFileSync, readdirSync, realpathSync, renameSync, rmdirSync, statfsSync, writeFileSync, writeSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, dirname, join, posix, relative } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { PodManifest } from '../appc/types.ts';
import { parseProcCgroups, type CgroupController } from '../sys/kernel-features.ts';
import { UserError, describeError } from '../util/errors.ts';
import { CONTROLLERS, PODS_CGROUP, planPodCgroups, type CgroupPlan, type CgroupProbe, type Controller, type Hierarchy } from './cgroup-plan.ts';

// The pod's cgroups on the host (docs/isolators.md): probing the hierarchies, making the
// pod's cgroups and writing its limits (cgroup-plan.ts decides what) before the
// hand-over, and removing what is left of them when the pod is deleted. Stage1 joins
// them (PID 1 and each app) and removes them itself when the pod ends
// (docs/stage1-interface.md); gc's removal is for a stage1 killed before it could.
//
// Synchronous on purpose: the hand-over runs only synchronous calls (handover.ts), and
// these are a few small writes to a kernel filesystem.

/** Where the hierarchies are mounted; RKT_CGROUP_ROOT points elsewhere (tests mount a v2 hierarchy of their own there). */
export function cgroupRoot(env: NodeJS.ProcessEnv = process.env): string {
  return env['RKT_CGROUP_ROOT'] || '/sys/fs/cgroup';
}

/** The record of the pod's cgroups in the pod directory, written before they are made, read by gc. */
export const CGROUPS_RECORD = 'cgroups.json';

const MEMORY_HINT = 'add cgroup_enable=memory cgroup_memory=1 to /boot/firmware/cmdline.txt, or /boot/cmdline.txt before Bookworm, and reboot';

/**
 * Which hierarchies offer the memory and cpu controllers under `root`. v2 when `root` is
 * the unified hierarchy; otherwise each controller from its v1 hierarchy
 * (`root/memory`, `root/cpu`, a link to `cpu,cpuacct` on most systems), and only where
 * v1 lacks one, from a hybrid system's v2 mount at `root/unified` (systemd mounts it
 * with no controllers, for its own bookkeeping). On a v1 system with neither
 * hierarchy, the v2 mount still gives the pod a cgroup of its own.
 */
export function probeCgroups(root = cgroupRoot(), procCgroups = '/proc/cgroups'): CgroupProbe {
  let kernel: CgroupController[] | undefined;
  try {
    kernel = parseProcCgroups(readFileSync(procCgroups, 'utf8'));
  } catch {
    kernel = undefined;
  }
  const hierarchies: Hierarchy[] = [];
  const v2At = (dir: string): Controller[] | undefined => {
    try {
      const offered = readFileSync(join(dir, 'cgroup.controllers'), 'utf8').trim().split(/\s+/);
      return CONTROLLERS.filter((c) => offered.includes(c));
    } catch {
      return undefined;
    }
  };
  const unified = v2At(root);
  if (unified !== undefined) {
    hierarchies.push({ version: 2, mount: realpathSync(root), name: '', controllers: unified });
  } else {
    for (const c of CONTROLLERS) {
      const dir = [join(root, c), join(root, `${c},cpuacct`)].find((d) => existsSync(join(d, 'cgroup.procs')));
      if (!dir) continue;
      const mount = realpathSync(dir);
      const known = hierarchies.find((h) => h.mount === mount);
      if (known) known.controllers.push(c);
      else hierarchies.push({ version: 1, mount, name: relative(realpathSync(root), mount), controllers: [c] });
    }
    const hybrid = v2At(join(root, 'unified'));
    if (hybrid !== undefined) {
      const fromV2 = hybrid.filter((c) => !hierarchies.some((h) => h.controllers.includes(c)));
      if (fromV2.length > 0 || hierarchies.length === 0) hierarchies.push({ version: 2, mount: realpathSync(join(root, 'unified')), name: 'unified', controllers: fromV2 });
    }
  }
  const missing: CgroupProbe['missing'] = {};
  for (const c of CONTROLLERS) {
    if (!hierarchies.some((h) => h.controllers.includes(c))) missing[c] = whyMissing(c, kernel, root, hierarchies);
  }
  return { hierarchies, missing };
}

/** Why controller `c` is unusable, with what to do about it. */
function whyMissing(c: Controller, kernel: CgroupController[] | undefined, root: string, hierarchies: readonly Hierarchy[]): string {
  if (hierarchies.length === 0) return `there is no cgroup hierarchy at ${root}`;
  const k = kernel?.find((x) => x.name === c);
  if (kernel && !k) return `the kernel has no ${c} cgroup controller (${c === 'memory' ? 'CONFIG_MEMCG' : 'CONFIG_CGROUP_SCHED'})`;
  if (k && !k.enabled) return `the ${c} cgroup controller is disabled (${c === 'memory' ? MEMORY_HINT : `add cgroup_enable=${c} to the kernel command line and reboot`})`;
  const where = hierarchies.some((h) => h.version === 2 && h.name === '') ? `the cgroup v2 hierarchy at ${root} does not offer it (cgroup.controllers)` : `no hierarchy under ${root} has it mounted`;
  return `the ${c} cgroup controller is not available: ${where}`;
}

/** What the hand-over needs of the pod's cgroups (handover.ts, handover-native.ts). */
export interface PodCgroups {
  /** The pods' cgroup directory of each hierarchy (host path), to bind at `target` in the stage1 root. */
  binds: readonly { source: string; target: string }[];
  /** The pod's cgroups as stage1 sees them: stage1.conf's pod `cgroup` keys. */
  pod: readonly string[];
  /** Each app's cgroups as stage1 sees them: its `cgroup` keys. */
  apps: ReadonlyMap<string, readonly string[]>;
}

export interface PodCgroupsInput {
  uuid: string;
  /** The pod directory (its record of cgroups goes there). */
  path: string;
  manifest: PodManifest;
}

/**
 * Makes the pod's cgroups and writes their limits; prints the notices through `warn`.
 * Undefined when the host has no hierarchy at all, or none can be made there (a
 * read-only /sys/fs/cgroup in a container): then the pod runs in rkt's own cgroups,
 * with a notice for each resource isolator. A limit the kernel refuses is an error.
 */
export function setUpPodCgroups(pod: PodCgroupsInput, warn: (line: string) => void, probe = probeCgroups()): PodCgroups | undefined {
  const input = {
    uuid: pod.uuid,
    apps: pod.manifest.apps.map((a) => ({ name: a.name, isolators: a.app?.isolators ?? [] })),
    podIsolators: pod.manifest.isolators,
  };
  let plan = planPodCgroups({ ...input, probe });
  if (plan.podDirs.length > 0) {
    writeRecord(pod.path, plan.podDirs);
    const made = makeDirs(plan);
    if (made !== true) {
      // Nothing of ours can live here: the pod goes on without cgroups, and says so.
      removeQuietly(plan);
      const why = `cannot make the pod's cgroup (${made})`;
      probe = { hierarchies: [], missing: Object.fromEntries(CONTROLLERS.map((c) => [c, why])) };
      plan = planPodCgroups({ ...input, probe });
    }
  }
  // A v2 controller that cannot be enabled (the cpu controller, while realtime
  // processes run outside the root cgroup) is missing: plan again without it.
  for (;;) {
    const failed = applyWrites(plan);
    if (!failed) break;
    probe = {
      hierarchies: probe.hierarchies.map((h) => ({ ...h, controllers: h.controllers.filter((c) => c !== failed.controller) })),
      missing: { ...probe.missing, [failed.controller]: failed.why },
    };
    plan = planPodCgroups({ ...input, probe });
  }
  for (const line of plan.notices) warn(line);
  if (plan.podDirs.length === 0) return undefined;
  return { binds: plan.binds, pod: plan.pod, apps: plan.apps };
}

function writeRecord(podPath: string, dirs: readonly string[]): void {
  const file = join(podPath, CGROUPS_RECORD);
  writeFileSync(`${file}.tmp`, `${JSON.stringify({ dirs }, null, 2)}\n`, { mode: 0o644 });
  renameSync(`${file}.tmp`, file);
}

/** true, or why the first directory could not be made. */
function makeDirs(plan: CgroupPlan): true | string {
  for (const dir of plan.mkdirs) {
    try {
      mkdirOne(dir);
    } catch (err) {
      return `mkdir ${dir}: ${describeError(err)}`;
    }
  }
  return true;
}

/** mkdir of one level: a missing hierarchy root must not become a directory of ours. */
function mkdirOne(dir: string): void {
  try {
    mkdirSync(dir, { mode: 0o755 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
}

/** Carries out the writes; returns the controller whose enabling failed, if one did. Throws for a limit the kernel refuses. */
function applyWrites(plan: CgroupPlan): { controller: Controller; why: string } | undefined {
  for (const w of plan.writes) {
    try {
      writeCgroupFile(w.path, w.value, w.optional ?? false);
    } catch (err) {
      if (w.enables) return { controller: w.enables, why: `cannot enable the ${w.enables} cgroup controller in ${dirname(w.path)}: ${describeError(err)}` };
      removeQuietly(plan);
      throw new UserError(`cannot apply ${w.what}: write ${JSON.stringify(w.value)} to ${w.path}: ${describeError(err)}`);
    }
  }
  return undefined;
}

/**
 * Writes a cgroup file in one write(2), as the kernel wants it; an optional file that
 * does not exist is skipped. Opened without O_CREAT: in a cgroup directory that would
 * turn a missing file's ENOENT into EACCES.
 */
function writeCgroupFile(path: string, value: string, optional: boolean): void {
  let fd: number;
  try {
    fd = openSync(path, constants.O_WRONLY);
  } catch (err) {
    if (optional && (err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  try {
    writeSync(fd, value);
  } finally {
    closeSync(fd);
  }
}

/** Removes what a failed set-up made, leaves first; errors are left for gc. */
function removeQuietly(plan: CgroupPlan): void {
  for (const dir of [...plan.mkdirs].reverse()) {
    if (basename(dir) === PODS_CGROUP) continue;
    try {
      rmdirSync(dir);
    } catch {
      // gc tries again
    }
  }
}

// ---- removal -------------------------------------------------------------------

const REMOVE_WAIT_MS = 5_000;

/**
 * Removes a pod's cgroups (as its record names them), for gc and rm; the caller holds
 * the pod's lock, so the pod is not running. A process still in them (there should be
 * none once the pod's PID namespace is gone) is killed first: cgroup.kill on v2,
 * SIGKILL to each pid on v1. Then the leaves and the pod's cgroup are removed, waiting
 * a little for dying processes to leave. Throws if one stays: the pod is then kept, so
 * the next gc tries again rather than losing track of the cgroup.
 */
export async function removePodCgroups(podPath: string, uuid: string): Promise<void> {
  let dirs: string[];
  try {
    const record = JSON.parse(await readFile(join(podPath, CGROUPS_RECORD), 'utf8')) as { dirs?: unknown };
    dirs = Array.isArray(record.dirs) ? record.dirs.filter((d): d is string => typeof d === 'string') : [];
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw new Error(`read ${CGROUPS_RECORD}: ${describeError(err)}`, { cause: err });
  }
  for (const dir of dirs) {
    // Only a pod cgroup of this pod: <hierarchy>/rkt/<uuid>, and a cgroup at that.
    if (!dir.startsWith('/') || basename(dir) !== uuid || basename(dirname(dir)) !== PODS_CGROUP) continue;
    if (!isPodCgroupDir(dir)) continue;
    await removeCgroupTree(dir);
  }
}

const CGROUP_SUPER_MAGIC = 0x27e0eb;
const CGROUP2_SUPER_MAGIC = 0x63677270;

/**
 * Whether a recorded directory is a real cgroup, named as it was recorded: no "..", no
 * symlink on the way (which could name another cgroup, whose processes would be killed)
 * and on a cgroup filesystem (a plain directory's "cgroup.procs" could list any pid).
 */
function isPodCgroupDir(dir: string): boolean {
  if (posix.normalize(dir) !== dir) return false;
  try {
    if (realpathSync(dir) !== dir) return false;
    const type = Number(statfsSync(dir).type);
    return (type === CGROUP_SUPER_MAGIC || type === CGROUP2_SUPER_MAGIC) && existsSync(join(dir, 'cgroup.procs'));
  } catch {
    return false;
  }
}

async function removeCgroupTree(dir: string): Promise<void> {
  const leaves = () => readdirSync(dir, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => join(dir, e.name));
  const end = Date.now() + REMOVE_WAIT_MS;
  for (;;) {
    if (!existsSync(dir)) return;
    const all = [...leaves(), dir];
    const left = all.flatMap(pidsIn);
    if (left.length > 0) kill(dir, left);
    try {
      for (const d of all) rmdirSync(d);
      return;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') continue;
      if (code !== 'EBUSY' || Date.now() > end) {
        const who = left.length > 0 ? ` (processes ${left.join(', ')} were in it)` : '';
        throw new Error(`cannot remove cgroup ${dir}${who}: ${describeError(err)}`, { cause: err });
      }
      await sleep(20);
    }
  }
}

/** How old an orphan pod cgroup must be before gc removes it: far longer than any start takes. */
const ORPHAN_AGE_MS = 10 * 60_000;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * For gc: removes pod cgroups that no pod will remove, whatever store they came from (a
 * pod directory deleted by hand, a stage1 killed and its pod never collected). Only a
 * tree in which no process is, and older than ten minutes, so a pod being started
 * (its cgroups made, its PID 1 not in them yet) is never touched; a running pod always
 * has its PID 1 in one. Best effort; the cgroups removed.
 */
export function sweepOrphanCgroups(now = Date.now(), probe?: CgroupProbe): string[] {
  const removed: string[] = [];
  try {
    probe ??= probeCgroups();
  } catch {
    return removed;
  }
  for (const h of probe.hierarchies) {
    const pods = join(h.mount, PODS_CGROUP);
    let names: string[];
    try {
      names = readdirSync(pods, { withFileTypes: true }).filter((e) => e.isDirectory() && UUID.test(e.name)).map((e) => e.name);
    } catch {
      continue;
    }
    for (const name of names) {
      const dir = join(pods, name);
      try {
        if (lstatSync(dir).mtimeMs + ORPHAN_AGE_MS > now) continue;
        const leaves = readdirSync(dir, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => join(dir, e.name));
        if ([...leaves, dir].some((d) => pidsIn(d).length > 0)) continue;
        for (const d of [...leaves, dir]) rmdirSync(d);
        removed.push(dir);
      } catch {
        // in use again, or not ours to remove: left alone
      }
    }
  }
  return removed;
}

function pidsIn(dir: string): number[] {
  try {
    return readFileSync(join(dir, 'cgroup.procs'), 'utf8')
      .split('\n')
      .filter((l) => /^\d+$/.test(l))
      .map(Number);
  } catch {
    return [];
  }
}

/** Kills the processes left in a pod's cgroups: the whole tree at once on v2 (Linux 5.14+), else each one. */
function kill(dir: string, pids: readonly number[]): void {
  if (existsSync(join(dir, 'cgroup.kill'))) {
    try {
      writeCgroupFile(join(dir, 'cgroup.kill'), '1', false);
      return;
    } catch {
      // fall back to one process at a time
    }
  }
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone already
    }
  }
}
