import { closeSync, constants, fstatSync, lstatSync, openSync, readFileSync, readlinkSync, type Stats } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { emptyApp } from '../appc/app.ts';
import type { CapabilitiesSetValue } from '../appc/isolators.ts';
import type { App, EnvironmentVariable, Isolator, RuntimeApp } from '../appc/types.ts';
import type { AppRuntime } from '../pod/runtime.ts';
import { ExitCode, UserError } from '../util/errors.ts';
import { isEnvName, parseEnvAssignment, type AppArgs } from './app-args.ts';
import { resolveGroup, resolveUser, type IdSources } from './passwd.ts';

// How one app runs: its argv, environment, user, capabilities and handlers, decided at
// prepare from the image's app, the pod manifest and the command line, and written to
// runtime.json for the stage1 init (docs/stage1-interface.md). The decisions are pure
// functions; resolveAppRuntime adds the reads from the app's tree: /etc/passwd and
// /etc/group, the owner of a path-form user, and exec[0] looked up in PATH.

/** spec/ace.md: the PATH every app gets unless its image (or the command line) sets one. */
export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** The value of `container` (spec/ace.md: the executor's name), as CoreOS rkt set it. */
export const CONTAINER_ENV = 'rkt';

/** Linux capability numbers (linux/capability.h). */
export const CAPABILITIES: Readonly<Record<string, number>> = {
  CAP_CHOWN: 0,
  CAP_DAC_OVERRIDE: 1,
  CAP_DAC_READ_SEARCH: 2,
  CAP_FOWNER: 3,
  CAP_FSETID: 4,
  CAP_KILL: 5,
  CAP_SETGID: 6,
  CAP_SETUID: 7,
  CAP_SETPCAP: 8,
  CAP_LINUX_IMMUTABLE: 9,
  CAP_NET_BIND_SERVICE: 10,
  CAP_NET_BROADCAST: 11,
  CAP_NET_ADMIN: 12,
  CAP_NET_RAW: 13,
  CAP_IPC_LOCK: 14,
  CAP_IPC_OWNER: 15,
  CAP_SYS_MODULE: 16,
  CAP_SYS_RAWIO: 17,
  CAP_SYS_CHROOT: 18,
  CAP_SYS_PTRACE: 19,
  CAP_SYS_PACCT: 20,
  CAP_SYS_ADMIN: 21,
  CAP_SYS_BOOT: 22,
  CAP_SYS_NICE: 23,
  CAP_SYS_RESOURCE: 24,
  CAP_SYS_TIME: 25,
  CAP_SYS_TTY_CONFIG: 26,
  CAP_MKNOD: 27,
  CAP_LEASE: 28,
  CAP_AUDIT_WRITE: 29,
  CAP_AUDIT_CONTROL: 30,
  CAP_SETFCAP: 31,
  CAP_MAC_OVERRIDE: 32,
  CAP_MAC_ADMIN: 33,
  CAP_SYSLOG: 34,
  CAP_WAKE_ALARM: 35,
  CAP_BLOCK_SUSPEND: 36,
  CAP_AUDIT_READ: 37,
  CAP_PERFMON: 38,
  CAP_BPF: 39,
  CAP_CHECKPOINT_RESTORE: 40,
};

/** spec/ace.md's default bounding set: an app without a capabilities isolator gets these 14. */
export const DEFAULT_CAPABILITIES: readonly string[] = [
  'CAP_AUDIT_WRITE',
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_FSETID',
  'CAP_FOWNER',
  'CAP_KILL',
  'CAP_MKNOD',
  'CAP_NET_RAW',
  'CAP_NET_BIND_SERVICE',
  'CAP_SETUID',
  'CAP_SETGID',
  'CAP_SETPCAP',
  'CAP_SETFCAP',
  'CAP_SYS_CHROOT',
];

/** The pod-wide environment flags. */
export interface PodEnv {
  /** --inherit-env: the host's environment, below everything else. */
  inherit?: Record<string, string | undefined>;
  /** --set-env-file's lines, then --set-env, in order: above the image's environment. */
  set: EnvironmentVariable[];
}

/**
 * The image's app with the app's command-line flags applied: what the reified pod
 * manifest records for the app. `--exec` replaces the whole exec, `-- ARGS` replace
 * exec[1..] (`--` alone leaves exec[0] only); --environment overrides same-named
 * variables. An image without an app gets one from the flags (user and group 0), as in
 * CoreOS rkt; without an exec from either the app cannot run, which is an error here.
 */
export function applyAppArgs(appName: string, imageName: string, imageApp: App | undefined, args: AppArgs | undefined): App {
  const app: App = imageApp ? structuredClone(imageApp) : emptyApp();
  if (args) {
    if (args.exec !== undefined) app.exec = [args.exec];
    if (args.args !== undefined) {
      if (app.exec.length === 0) throw noExec(appName, imageName);
      app.exec = [app.exec[0]!, ...args.args];
    }
    if (args.user !== undefined) app.user = args.user;
    if (args.group !== undefined) app.group = args.group;
    if (args.supplementaryGIDs !== undefined) app.supplementaryGIDs = [...args.supplementaryGIDs];
    if (args.workingDir !== undefined) app.workingDirectory = args.workingDir;
    for (const v of args.environment) {
      app.environment = [...app.environment.filter((e) => e.name !== v.name), { name: v.name, value: v.value }];
    }
    // --memory and --cpu replace the image's isolator, request and limit alike (as CoreOS rkt's did).
    for (const [name, quantity] of [['resource/memory', args.memory], ['resource/cpu', args.cpu]] as const) {
      if (quantity !== undefined) app.isolators = [...app.isolators.filter((i) => i.name !== name), { name, value: { request: quantity, limit: quantity } }];
    }
  }
  if (app.exec.length === 0) throw noExec(appName, imageName);
  return app;
}

function noExec(appName: string, imageName: string): UserError {
  return new UserError(`app ${appName}: image ${imageName} has no exec; give one with --exec after the image`);
}

/**
 * The whole environment, lowest priority first: the host's (--inherit-env), the ACE
 * variables (PATH, container), the app's own (image and pod manifest), the pod's
 * --set-env-file and --set-env, the app's --environment; AC_APP_NAME is always the
 * app's name (spec/ace.md: MUST).
 */
export function appEnvironment(appName: string, app: App, podEnv: PodEnv, appEnv: readonly EnvironmentVariable[] = []): string[] {
  const env = new Map<string, string>();
  for (const [name, value] of Object.entries(podEnv.inherit ?? {})) {
    if (value !== undefined && isEnvName(name)) env.set(name, value);
  }
  env.set('PATH', DEFAULT_PATH);
  env.set('container', CONTAINER_ENV);
  for (const list of [app.environment, podEnv.set, appEnv]) {
    for (const { name, value } of list) env.set(name, value);
  }
  env.set('AC_APP_NAME', appName);
  return [...env].map(([name, value]) => `${name}=${value}`);
}

/** The capability bounding set as a hexadecimal bit mask (spec/ace.md, os/linux/capabilities-*-set). */
export function capabilityMask(appName: string, isolators: readonly Isolator[]): string {
  const bit = (cap: string): bigint => {
    const n = Object.hasOwn(CAPABILITIES, cap) ? CAPABILITIES[cap] : undefined;
    if (n === undefined) throw new UserError(`app ${appName}: unknown capability ${cap} in its capabilities isolator`);
    return 1n << BigInt(n);
  };
  const sets = (name: string): string[] =>
    isolators.filter((i) => i.name === name).flatMap((i) => (i.value as CapabilitiesSetValue).set);
  const retain = isolators.some((i) => i.name === 'os/linux/capabilities-retain-set');
  let mask = 0n;
  if (retain) {
    for (const cap of sets('os/linux/capabilities-retain-set')) mask |= bit(cap);
  } else {
    for (const cap of DEFAULT_CAPABILITIES) mask |= bit(cap);
    // Removing one not in the default set has no effect (spec/ace.md), but a misspelt one is still an error.
    for (const cap of sets('os/linux/capabilities-remove-set')) mask &= ~bit(cap);
  }
  return mask.toString(16);
}

/** os/linux/no-new-privileges: set when any such isolator says true. */
export function noNewPrivileges(isolators: readonly Isolator[]): boolean {
  return isolators.some((i) => i.name === 'os/linux/no-new-privileges' && i.value === true);
}

/** The value of PATH in an environment list (the last one wins, as in the list's own order). */
export function pathOf(env: readonly string[]): string {
  let path = '';
  for (const e of env) if (e.startsWith('PATH=')) path = e.slice(5);
  return path;
}

/** `--set-env-file` contents: NAME=VALUE lines; blank lines and lines starting with # are skipped. */
export function parseEnvFile(text: string, file: string): EnvironmentVariable[] {
  const vars: EnvironmentVariable[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (line.trim() === '' || line.trimStart().startsWith('#')) return;
    try {
      vars.push(parseEnvAssignment(line, '--set-env-file'));
    } catch {
      throw new UserError(`--set-env-file ${file}: line ${i + 1} is not NAME=VALUE`, ExitCode.usage);
    }
  });
  return vars;
}

/** The pod's environment flags, reading the --set-env-file files. */
export async function loadPodEnv(opts: { setEnv?: readonly string[]; setEnvFiles?: readonly string[]; inheritEnv?: boolean }): Promise<PodEnv> {
  const set: EnvironmentVariable[] = [];
  for (const file of opts.setEnvFiles ?? []) {
    const text = await readFile(file, 'utf8').catch((err: NodeJS.ErrnoException) => {
      throw new UserError(`--set-env-file ${file}: ${err.code === 'ENOENT' ? 'no such file' : err.message}`, ExitCode.usage);
    });
    set.push(...parseEnvFile(text, file));
  }
  for (const text of opts.setEnv ?? []) set.push(parseEnvAssignment(text, '--set-env'));
  return opts.inheritEnv ? { inherit: { ...process.env }, set } : { set };
}

export interface AppRuntimeInput {
  /** The app of the pod manifest (its `app` already the effective one, if any). */
  runtimeApp: RuntimeApp;
  /** The image's app, used when the pod manifest's app has none. */
  imageApp: App | undefined;
  imageName: string;
  imageId: string;
  tree: { treeId: string; path: string };
  podEnv: PodEnv;
  /** The app's own --environment, above the pod's --set-env. */
  appEnv?: readonly EnvironmentVariable[];
}

/** One app's runtime record, reading what it needs from its tree's rootfs. */
export function resolveAppRuntime(input: AppRuntimeInput): AppRuntime {
  const { runtimeApp } = input;
  const name = runtimeApp.name;
  const app = runtimeApp.app ?? input.imageApp;
  if (!app || app.exec.length === 0) throw noExec(name, input.imageName);
  const rootfs = join(input.tree.path, 'rootfs');
  const env = appEnvironment(name, app, input.podEnv, input.appEnv);
  const cwd = app.workingDirectory ?? '/';
  const ids: IdSources = {
    app: name,
    passwd: readInRoot(rootfs, '/etc/passwd', name),
    group: readInRoot(rootfs, '/etc/group', name),
    ownerOf: (path) => ownerInRoot(rootfs, path, name),
  };
  const path = pathOf(env);
  const handler = (which: 'pre-start' | 'post-stop'): string[] => {
    const exec = app.eventHandlers.find((h) => h.name === which)?.exec ?? [];
    return exec.length === 0 ? [] : lookupExec(rootfs, exec, path, cwd, `app ${name}: ${which} handler`);
  };
  return {
    name,
    imageId: input.imageId,
    treeId: input.tree.treeId,
    exec: lookupExec(rootfs, app.exec, path, cwd, `app ${name}`),
    env,
    uid: resolveUser(app.user, ids),
    gid: resolveGroup(app.group, ids),
    groups: [...app.supplementaryGIDs],
    cwd,
    caps: capabilityMask(name, app.isolators),
    noNewPrivileges: noNewPrivileges(app.isolators),
    preStart: handler('pre-start'),
    postStop: handler('post-stop'),
    readOnlyRootFS: runtimeApp.readOnlyRootFS,
  };
}

/**
 * argv with exec[0] made absolute, as the stage1 init needs it: a name without "/" is
 * looked up in the app's PATH inside its rootfs (as execvp would), a relative path is
 * taken from the working directory. An absolute one is kept unchecked: it may come
 * from a volume.
 */
export function lookupExec(rootfs: string, exec: readonly string[], path: string, cwd: string, what: string): string[] {
  const [first, ...rest] = exec;
  if (first === undefined || first === '') throw new UserError(`${what}: empty exec`);
  if (first.startsWith('/')) return [...exec];
  if (first.includes('/')) return [posix.join(cwd, first), ...rest];
  for (const dir of path.split(':')) {
    const candidate = posix.join(dir === '' ? cwd : dir, first);
    if (!candidate.startsWith('/')) continue;
    let found: ReturnType<typeof resolveInRoot>;
    try {
      found = resolveInRoot(rootfs, candidate);
    } catch {
      continue; // a symlink loop: execvp goes on to the next directory too
    }
    if (found && found.stats.isFile() && (found.stats.mode & 0o111) !== 0) return [candidate, ...rest];
  }
  throw new UserError(`${what}: "${first}" is not in the image's PATH (${path})`);
}

/**
 * A path inside `rootfs` resolved as the app will see it, symlinks included, but
 * confined: an absolute link target starts again at the rootfs, and ".." stops at it
 * (the kernel's RESOLVE_IN_ROOT, in userspace: the trees are the store's, which nobody
 * changes under us). undefined when a component is missing or not a directory.
 */
export function resolveInRoot(rootfs: string, path: string): { hostPath: string; stats: Stats } | undefined {
  let parts = path.split('/').filter((p) => p !== '' && p !== '.');
  const resolved: string[] = [];
  let links = 0;
  let stats = lstatSync(rootfs);
  while (parts.length > 0) {
    const part = parts.shift()!;
    if (part === '..') {
      resolved.pop();
      stats = lstatSync(join(rootfs, ...resolved));
      continue;
    }
    if (!stats.isDirectory()) return undefined;
    const host = join(rootfs, ...resolved, part);
    const st = lstatSync(host, { throwIfNoEntry: false });
    if (!st) return undefined;
    if (st.isSymbolicLink()) {
      if (++links > 40) throw new UserError(`${path} in the image: too many levels of symbolic links`);
      const target = readlinkSync(host);
      if (target.startsWith('/')) resolved.length = 0;
      parts = [...target.split('/').filter((p) => p !== '' && p !== '.'), ...parts];
      stats = lstatSync(join(rootfs, ...resolved));
      continue;
    }
    resolved.push(part);
    stats = st;
  }
  return { hostPath: join(rootfs, ...resolved), stats };
}

/** A regular file's text inside the rootfs (resolved confined, opened without following a link), undefined when absent. */
function readInRoot(rootfs: string, path: string, app: string): string | undefined {
  let found: ReturnType<typeof resolveInRoot>;
  try {
    found = resolveInRoot(rootfs, path);
  } catch (err) {
    throw err instanceof UserError ? new UserError(`app ${app}: ${err.message}`) : err;
  }
  if (!found) return undefined;
  if (!found.stats.isFile()) throw new UserError(`app ${app}: ${path} in the image is not a regular file`);
  const fd = openSync(found.hostPath, constants.O_RDONLY | constants.O_NOFOLLOW);
  try {
    if (!fstatSync(fd).isFile()) throw new UserError(`app ${app}: ${path} in the image is not a regular file`);
    return readFileSync(fd, 'utf8');
  } finally {
    closeSync(fd);
  }
}

/**
 * The owner of a path-form user or group. Every component is lstat'ed and a symlink
 * anywhere is refused: following it on the host could reach a file outside the image.
 */
function ownerInRoot(rootfs: string, path: string, app: string): { uid: number; gid: number } {
  const parts = path.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.includes('..')) throw new UserError(`app ${app}: user/group path ${path} must not contain ".."`);
  let st: Stats | undefined;
  for (let i = 1; i <= parts.length; i++) {
    st = lstatSync(join(rootfs, ...parts.slice(0, i)), { throwIfNoEntry: false });
    const at = `/${parts.slice(0, i).join('/')}`;
    if (!st) throw new UserError(`app ${app}: user/group path ${path} is not in the image`);
    if (st.isSymbolicLink()) throw new UserError(`app ${app}: user/group path ${path}: ${at} is a symbolic link in the image; name the file itself`);
    if (i < parts.length && !st.isDirectory()) throw new UserError(`app ${app}: user/group path ${path}: ${at} is not a directory`);
  }
  st ??= lstatSync(rootfs);
  return { uid: st.uid, gid: st.gid };
}
