import { posix } from 'node:path';
import { isKnownIsolator, type ResourceValue } from '../appc/isolators.ts';
import { parseQuantity } from '../appc/quantity.ts';
import type { Isolator } from '../appc/types.ts';

// The pod's cgroups as plain data (docs/isolators.md): from the apps' isolators and
// what the host offers (cgroups.ts probes it), which directories to make, which files
// to write, where stage0 and each app go, and the one-line notices the user sees for
// isolators that are ignored or modified (spec/ace.md: an executor MUST say so). Pure,
// so every rule is tested without root; cgroups.ts carries it out.
//
// Layout, the same in every hierarchy stage0 uses (a v2 one, or the v1 memory and cpu
// ones):
//
//   <mount>/rkt/<uuid>/              the pod: pod-level isolators, which bound the apps
//   <mount>/rkt/<uuid>/stage1.init   the pod's PID 1 (stage1) joins it first thing
//   <mount>/rkt/<uuid>/<app>         each app (and its event handlers): stage1 writes the
//                                    child's pid to cgroup.procs before it executes it
//
// Per app rather than pod-wide sums, as CoreOS rkt's systemd stage1 did: an app's limit
// is its own, so one app's leak cannot push a neighbour into the OOM killer. PID 1 sits
// in a leaf of its own because cgroup v2 allows processes only in leaves once
// controllers are enabled below a cgroup; "stage1.init" cannot be an app's name (an AC
// name has no dot). Stage1 reaches the cgroups through a bind of <mount>/rkt at
// /sys/fs/cgroup/<hierarchy> in the stage1 root, which no app can see (apps are
// chrooted into their own roots). The parent, not the pod's own directory, is bound so
// that stage1's outer process (which stays outside, where rkt was started) can remove
// the pod's cgroups when the pod ends: a mount point cannot be removed. gc removes what
// an outer process killed before it could is left (cgroups.ts).

export type Controller = 'memory' | 'cpu';
export const CONTROLLERS: readonly Controller[] = ['memory', 'cpu'];

/** The isolator each controller enforces. */
const ISOLATOR_OF: Readonly<Record<Controller, string>> = { memory: 'resource/memory', cpu: 'resource/cpu' };

/** The leaf of the stage1 processes: not an AC name, so no app can have it. */
export const STAGE1_CGROUP = 'stage1.init';
/** The directory under each hierarchy's root that holds the pods' cgroups. */
export const PODS_CGROUP = 'rkt';
/** Where a hierarchy's pod cgroup appears in the stage1 root. */
export const CGROUP_IN_STAGE1 = '/sys/fs/cgroup';

/** CFS period for limits: 100 ms, the kernel's default. */
export const CFS_PERIOD_US = 100_000;
/** The least quota the kernel takes: 1 ms per period. */
const CFS_MIN_QUOTA_US = 1_000;
/** The v1 cpu.shares of one core; also its default. */
const SHARES_PER_CORE = 1024;
const SHARES_MIN = 2;
const SHARES_MAX = 262_144;
/** The v2 cpu.weight of one core; also its default. */
const WEIGHT_PER_CORE = 100;
const WEIGHT_MIN = 1;
const WEIGHT_MAX = 10_000;

/** One cgroup hierarchy stage0 puts the pod in. */
export interface Hierarchy {
  version: 1 | 2;
  /** Its mount point on the host, a real path: /sys/fs/cgroup/memory, /sys/fs/cgroup. */
  mount: string;
  /** Its path under the cgroup root ('' for a v2 root, 'unified', 'memory', 'cpu,cpuacct'): where stage1 sees it, under /sys/fs/cgroup. */
  name: string;
  /** The controllers stage0 uses from it: v1, those mounted there; v2, those its root offers (cgroup.controllers). */
  controllers: Controller[];
}

/** What the host offers, as cgroups.ts found it. */
export interface CgroupProbe {
  hierarchies: Hierarchy[];
  /** Why a controller no hierarchy offers is missing, ready to follow "ignored: ". */
  missing: Partial<Record<Controller, string>>;
}

export interface CgroupPlanInput {
  uuid: string;
  /** Each app's effective isolators (its image's, the pod manifest's, --memory and --cpu). */
  apps: readonly { name: string; isolators: readonly Isolator[] }[];
  /** The pod manifest's own isolators: they bound every app. */
  podIsolators: readonly Isolator[];
  probe: CgroupProbe;
}

export interface CgroupWrite {
  path: string;
  value: string;
  /** Skipped when the file does not exist (memory.memsw.* without swap accounting, memory.swap.max). */
  optional?: boolean;
  /** A v2 cgroup.subtree_control write: when it fails, the controller is missing (cgroups.ts plans again without it). */
  enables?: Controller;
  /** For errors: "isolator resource/memory of app web". */
  what: string;
}

export interface CgroupPlan {
  /** One-line notices, each starting "rkt: isolator ". */
  notices: string[];
  /** Directories to make, parents first; an existing one is fine. */
  mkdirs: string[];
  /** Files to write, in this order (v2: controllers enabled top-down; v1: a limit before its memsw). */
  writes: CgroupWrite[];
  /** The pod's cgroup in each hierarchy: what gc removes (with its leaves). */
  podDirs: string[];
  /** The pods' directory (<mount>/rkt) of each hierarchy, bound into the stage1 root at `target`. */
  binds: { source: string; target: string }[];
  /** The pod's cgroup in each hierarchy as stage1 sees it (stage1.conf's pod `cgroup` keys). */
  pod: string[];
  /** Each app's cgroups as stage1 sees them (its `cgroup` keys). */
  apps: Map<string, string[]>;
}

/** The isolators this runtime enforces somewhere else than in cgroups: app-runtime.ts, stage1. */
const ENFORCED_PER_APP = new Set(['os/linux/capabilities-retain-set', 'os/linux/capabilities-remove-set', 'os/linux/no-new-privileges']);

/** A scope's resource settings: request and limit, in bytes (memory) or cores (cpu). */
interface Resources {
  memory?: { request?: number; limit?: number };
  cpu?: { request?: number; limit?: number };
}

/** Collects the notices, one line per isolator and reason, listing the apps it concerns. */
class Notices {
  readonly #lines = new Map<string, { isolator: string; verdict: string; scopes: string[] }>();

  add(isolator: string, scope: string | undefined, verdict: string): void {
    const key = `${isolator}\0${verdict}`;
    const entry = this.#lines.get(key) ?? { isolator, verdict, scopes: [] };
    const who = scope ?? '';
    if (!entry.scopes.includes(who)) entry.scopes.push(who);
    this.#lines.set(key, entry);
  }

  lines(): string[] {
    return [...this.#lines.values()].map(({ isolator, verdict, scopes }) => `rkt: isolator ${isolator} of ${describeScopes(scopes)} ${verdict}`);
  }
}

function describeScopes(scopes: readonly string[]): string {
  const pod = scopes.includes('');
  const apps = scopes.filter((s) => s !== '');
  const parts: string[] = [];
  if (pod) parts.push('the pod');
  if (apps.length === 1) parts.push(`app ${apps[0]}`);
  if (apps.length > 1) parts.push(`apps ${apps.join(', ')}`);
  return parts.join(' and ');
}

export function planPodCgroups(input: CgroupPlanInput): CgroupPlan {
  const { uuid, probe } = input;
  const notices = new Notices();
  const versionOf = (c: Controller) => probe.hierarchies.find((h) => h.controllers.includes(c))?.version;

  // What each scope asks for, and the notices for what cannot be had.
  const pod = readScope(input.podIsolators, undefined, versionOf, probe, notices);
  const apps = input.apps.map((a) => ({ name: a.name, resources: readScope(a.isolators, a.name, versionOf, probe, notices) }));
  for (const app of apps) boundByPod(app.name, app.resources, pod, notices);

  const plan: CgroupPlan = { notices: [], mkdirs: [], writes: [], podDirs: [], binds: [], pod: [], apps: new Map(apps.map((a) => [a.name, []])) };
  for (const h of probe.hierarchies) {
    const pods = posix.join(h.mount, PODS_CGROUP);
    const podDir = posix.join(pods, uuid);
    const target = posix.join(CGROUP_IN_STAGE1, h.name);
    plan.mkdirs.push(pods, podDir, posix.join(podDir, STAGE1_CGROUP), ...apps.map((a) => posix.join(podDir, a.name)));
    plan.podDirs.push(podDir);
    plan.binds.push({ source: pods, target });
    plan.pod.push(posix.join(target, uuid));
    for (const a of apps) plan.apps.get(a.name)!.push(posix.join(target, uuid, a.name));

    if (h.version === 2) {
      // A v2 controller works in a cgroup only once its parent enables it for its
      // children: the root, rkt/ and the pod, for the controllers anything here needs.
      const needed = h.controllers.filter((c) => pod[c] || apps.some((a) => a.resources[c]));
      for (const dir of [h.mount, pods, podDir]) {
        for (const c of needed) plan.writes.push({ path: posix.join(dir, 'cgroup.subtree_control'), value: `+${c}`, enables: c, what: `enable the ${c} controller` });
      }
    }
    for (const c of h.controllers) {
      plan.writes.push(...limitWrites(h.version, c, podDir, pod, 'the pod'));
      for (const a of apps) plan.writes.push(...limitWrites(h.version, c, posix.join(podDir, a.name), a.resources, `app ${a.name}`));
    }
  }
  plan.notices = notices.lines();
  return plan;
}

/** A scope's resource isolators as numbers, and notices for everything it cannot have. */
function readScope(
  isolators: readonly Isolator[],
  app: string | undefined,
  versionOf: (c: Controller) => 1 | 2 | undefined,
  probe: CgroupProbe,
  notices: Notices,
): Resources {
  const out: Resources = {};
  for (const iso of isolators) {
    const controller = CONTROLLERS.find((c) => ISOLATOR_OF[c] === iso.name);
    if (controller) {
      const version = versionOf(controller);
      if (version === undefined) {
        notices.add(iso.name, app, `ignored: ${probe.missing[controller] ?? `no cgroup hierarchy offers the ${controller} controller`}`);
        continue;
      }
      const value = iso.value as ResourceValue;
      const limit = value.limit === undefined ? undefined : amount(value.limit, controller);
      // spec/ace.md: "If request is omitted, it defaults to the value of limit."
      const request = value.request === undefined ? limit : amount(value.request, controller);
      if (limit === undefined && request === undefined) continue;
      out[controller] = { ...(request !== undefined ? { request } : {}), ...(limit !== undefined ? { limit } : {}) };
      if (controller === 'cpu') checkCpuRange(iso.name, app, version, out.cpu!, notices);
    } else if (ENFORCED_PER_APP.has(iso.name)) {
      if (app === undefined) notices.add(iso.name, app, 'ignored: it applies to apps, not to a pod; give it to each app');
    } else if (isKnownIsolator(iso.name)) {
      notices.add(iso.name, app, 'ignored: not implemented by this runtime');
    } else {
      notices.add(iso.name, app, 'ignored: unknown to this runtime');
    }
  }
  return out;
}

/** Bytes (memory, whole) or cores (cpu) of a quantity isolators.ts already checked. */
function amount(quantity: string, controller: Controller): number {
  const n = parseQuantity(quantity);
  return controller === 'memory' ? Math.floor(n) : n;
}

/** Notices for CPU values the kernel cannot take as they are; the writes clamp them the same way. */
function checkCpuRange(isolator: string, app: string | undefined, version: 1 | 2, r: { request?: number; limit?: number }, notices: Notices): void {
  if (r.limit !== undefined && quotaUs(r.limit) !== Math.round(r.limit * CFS_PERIOD_US)) {
    notices.add(isolator, app, `modified: limit ${formatCores(r.limit)} is below the least CFS quota the kernel takes (1 ms per 100 ms); using ${formatCores(CFS_MIN_QUOTA_US / CFS_PERIOD_US)}`);
  }
  if (r.request === undefined) return;
  const [perCore, min, max, file] = version === 1 ? [SHARES_PER_CORE, SHARES_MIN, SHARES_MAX, 'cpu.shares'] : [WEIGHT_PER_CORE, WEIGHT_MIN, WEIGHT_MAX, 'cpu.weight'];
  const used = version === 1 ? cpuShares(r.request) : cpuWeight(r.request);
  if (used !== Math.round(r.request * perCore)) {
    notices.add(isolator, app, `modified: request ${formatCores(r.request)} is outside what ${file} takes (${formatCores(min / perCore)} to ${formatCores(max / perCore)}); using ${formatCores(used / perCore)}`);
  }
}

/** spec/ace.md: "Any isolators applied to the pod will bound any individual isolators applied to applications." */
function boundByPod(app: string, own: Resources, pod: Resources, notices: Notices): void {
  for (const c of CONTROLLERS) {
    const podLimit = pod[c]?.limit;
    const appLimit = own[c]?.limit;
    if (podLimit === undefined || appLimit === undefined || appLimit <= podLimit) continue;
    const show = c === 'memory' ? formatBytes : formatCores;
    notices.add(ISOLATOR_OF[c], app, `modified: limit ${show(appLimit)} is above the pod's, ${show(podLimit)}; using the pod's`);
    own[c] = { ...own[c], limit: podLimit };
  }
}

/** The files that carry one scope's settings of controller `c` in `dir`. */
function limitWrites(version: 1 | 2, c: Controller, dir: string, r: Resources, scope: string): CgroupWrite[] {
  const set = r[c];
  if (!set) return [];
  const what = `isolator ${ISOLATOR_OF[c]} of ${scope}`;
  const w = (file: string, value: string | number, optional = false): CgroupWrite => ({ path: posix.join(dir, file), value: String(value), what, ...(optional ? { optional } : {}) });
  const out: CgroupWrite[] = [];
  if (c === 'memory') {
    if (version === 1) {
      // limit_in_bytes first: memsw (memory + swap) may not be set below it. memsw exists
      // only with swap accounting; setting it equal keeps the app from swapping past its limit.
      if (set.limit !== undefined) out.push(w('memory.limit_in_bytes', bytes(set.limit, '-1')), w('memory.memsw.limit_in_bytes', bytes(set.limit, '-1'), true));
      if (set.request !== undefined) out.push(w('memory.soft_limit_in_bytes', bytes(set.request, '-1')));
    } else {
      // memory.max alone lets the app swap out past its limit; no swap makes the limit bite.
      if (set.limit !== undefined) out.push(w('memory.max', bytes(set.limit, 'max')), w('memory.swap.max', 0, true));
      if (set.request !== undefined) out.push(w('memory.low', bytes(set.request, 'max')));
    }
  } else if (version === 1) {
    if (set.limit !== undefined) out.push(w('cpu.cfs_period_us', CFS_PERIOD_US), w('cpu.cfs_quota_us', quotaUs(set.limit)));
    if (set.request !== undefined) out.push(w('cpu.shares', cpuShares(set.request)));
  } else {
    if (set.limit !== undefined) out.push(w('cpu.max', `${quotaUs(set.limit)} ${CFS_PERIOD_US}`));
    if (set.request !== undefined) out.push(w('cpu.weight', cpuWeight(set.request)));
  }
  return out;
}

/** A byte count as the kernel reads it; beyond what a double holds exactly, unlimited. */
function bytes(n: number, unlimited: string): string {
  return n > Number.MAX_SAFE_INTEGER ? unlimited : String(n);
}

export function quotaUs(cores: number): number {
  return Math.max(CFS_MIN_QUOTA_US, Math.round(cores * CFS_PERIOD_US));
}

/** v1: 1024 shares a core, the kernel's default for a cgroup. */
export function cpuShares(cores: number): number {
  return clamp(Math.round(cores * SHARES_PER_CORE), SHARES_MIN, SHARES_MAX);
}

/**
 * v2: 100 a core. The default weight, 100, is what v1's default 1024 shares is, so a
 * request keeps the same proportion to its default neighbours on both versions. (runc's
 * shares-to-weight formula maps 1024 shares to 39, which would make a one-core request
 * weigh less on v2 than a cgroup that asked for nothing.)
 */
export function cpuWeight(cores: number): number {
  return clamp(Math.round(cores * WEIGHT_PER_CORE), WEIGHT_MIN, WEIGHT_MAX);
}

function clamp(n: number, min: number, max: number): number {
  return Math.min(max, Math.max(min, n));
}

/** Bytes as a quantity, with the largest suffix that keeps it whole: 512000000 -> 512M, 134217728 -> 128Mi. */
function formatBytes(n: number): string {
  const suffixes: [string, number][] = [
    ['Gi', 2 ** 30],
    ['G', 1e9],
    ['Mi', 2 ** 20],
    ['M', 1e6],
    ['Ki', 2 ** 10],
    ['K', 1e3],
  ];
  const fit = suffixes.find(([, unit]) => n >= unit && n % unit === 0);
  return fit ? `${n / fit[1]}${fit[0]}` : String(n);
}

/** Cores as a quantity: 0.5 -> 500m, 2 -> 2. */
function formatCores(cores: number): string {
  const milli = Math.round(cores * 1000);
  return milli % 1000 === 0 ? String(milli / 1000) : `${milli}m`;
}
