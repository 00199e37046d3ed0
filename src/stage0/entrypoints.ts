import { execFile, spawn } from 'node:child_process';
import { constants } from 'node:os';
import { join, resolve, sep } from 'node:path';
import type { Stage1Runtime } from '../pod/runtime.ts';
import { StorePaths } from '../store/layout.ts';
import { isTreeId } from '../store/tree-store.ts';
import { ffiStatus } from '../sys/ffi.ts';
import { lockFile } from '../sys/flock.ts';
import { clearCloseOnExec, execve } from '../sys/linux.ts';
import { exists } from '../util/fs.ts';
import { NOTIFY_SOCKET_IN_STAGE1 } from './mount-plan.ts';

// Running a pod's stage1 entrypoints from outside the pod (docs/stage1-interface.md,
// "enter, stop, gc"): from the stage1 tree in the store, since the pod's own mounts
// are visible only in its mount namespace.

export type EntrypointName = keyof Stage1Runtime['entrypoints'];

const TIMEOUT_MS = 60_000;
const STAGE1_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/**
 * The environment every entrypoint gets: PATH, and the host's QEMU_* variables, so an
 * ARM stage1 on an x86 host runs under qemu-user with the CPU model the user chose.
 */
export function stage1Env(env: NodeJS.ProcessEnv = process.env): string[] {
  const qemu = Object.entries(env).filter(([k, v]) => k.startsWith('QEMU_') && v !== undefined);
  const notify = notifySocketFor(env['NOTIFY_SOCKET']);
  return [`PATH=${STAGE1_PATH}`, ...qemu.map(([k, v]) => `${k}=${v}`), ...(notify ? [`NOTIFY_SOCKET=${notify}`] : [])];
}

/**
 * systemd's NOTIFY_SOCKET as stage1 sees it: an abstract socket (`@name`) as it is
 * (reachable while the pod shares the host's network namespace), a path socket where
 * stage0 binds it, since the host's paths are gone after pivot_root.
 */
function notifySocketFor(socket: string | undefined): string | undefined {
  if (socket?.startsWith('@')) return socket;
  return socket?.startsWith('/') ? NOTIFY_SOCKET_IN_STAGE1 : undefined;
}

/** The host path of a path NOTIFY_SOCKET, which the mount plan binds into the stage1 root. */
export function notifySocketPath(env: NodeJS.ProcessEnv = process.env): string | undefined {
  return env['NOTIFY_SOCKET']?.startsWith('/') ? env['NOTIFY_SOCKET'] : undefined;
}

/** NAME=value strings as child_process wants an environment. */
export function envRecord(env: readonly string[]): NodeJS.ProcessEnv {
  return Object.fromEntries(env.map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
}

/** The entrypoint's file in the stage1 tree under `dir`; refuses a path that leaves the tree's rootfs. */
export async function entrypointPath(dir: string, stage1: Stage1Runtime, name: EntrypointName): Promise<string> {
  // The tree ID comes from the pod's runtime.json: it must name a tree, not a path.
  if (!isTreeId(stage1.treeId)) throw new Error(`stage1 ${name}: "${stage1.treeId}" is not a tree ID`);
  const rootfs = join(new StorePaths(dir).tree(stage1.treeId), 'rootfs');
  const entry = resolve(rootfs, `.${stage1.entrypoints[name]}`);
  if (!entry.startsWith(rootfs + sep)) throw new Error(`stage1 ${name}: entrypoint "${stage1.entrypoints[name]}" is outside the stage1 rootfs`);
  if (!(await exists(entry))) throw new Error(`stage1 ${name}: ${entry} is gone (the stage1 tree was removed)`);
  return entry;
}

/**
 * Runs an entrypoint to completion, holding the stage1 tree's lock shared so image gc
 * cannot remove it meanwhile. Its last line of stderr becomes the error.
 */
export async function runEntrypoint(dir: string, stage1: Stage1Runtime, name: EntrypointName, args: string[], cwd: string): Promise<void> {
  const entry = await entrypointPath(dir, stage1, name);
  const lock = await lockFile(new StorePaths(dir).treeLock(stage1.treeId), 'shared');
  try {
    await new Promise<void>((done, fail) => {
      execFile(entry, [name, ...args], { cwd, env: envRecord(stage1Env()), timeout: TIMEOUT_MS, encoding: 'utf8' }, (err, _stdout, stderr) => {
        if (!err) return done();
        const last = stderr.trim().split('\n').pop();
        fail(new Error(`stage1 ${name}: ${last || err.message.split('\n')[0]}`));
      });
    });
  } finally {
    lock.release();
  }
}

/**
 * Replaces this process with an entrypoint (enter: no Node process stays beside the
 * shell). Where FFI cannot load there is no execve: the entrypoint runs beside this
 * process, which exits with its status.
 */
export async function execEntrypoint(dir: string, stage1: Stage1Runtime, name: EntrypointName, args: string[]): Promise<never> {
  const entry = await entrypointPath(dir, stage1, name);
  if (!ffiStatus().available) return process.exit(await spawnForwarding(entry, [name, ...args], stage1Env()));
  for (const fd of [0, 1, 2]) clearCloseOnExec(fd);
  return execve(entry, [entry, name, ...args], stage1Env());
}

const FORWARDED = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/**
 * Runs `file` on this process's stdio, with `extraFds` as its fds 3, 4..., and resolves
 * with its exit status (128 + the signal if it was killed). Meanwhile SIGINT, SIGTERM
 * and SIGHUP go on to it instead of ending this process, as they would reach an exec'd
 * stage1; a terminal's ^C reaches both, so the child may get SIGINT twice.
 */
export function spawnForwarding(file: string, args: readonly string[], env: readonly string[], extraFds: readonly number[] = []): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { stdio: ['inherit', 'inherit', 'inherit', ...extraFds], env: envRecord(env) });
    const forward = (signal: NodeJS.Signals) => child.kill(signal);
    for (const signal of FORWARDED) process.on(signal, forward);
    let settled = false;
    const settle = (fn: () => void) => {
      if (settled) return;
      settled = true;
      for (const signal of FORWARDED) process.off(signal, forward);
      fn();
    };
    child.on('error', (err) => settle(() => reject(err)));
    child.on('exit', (code, signal) => settle(() => resolve(code ?? 128 + (signal ? constants.signals[signal] : 0))));
  });
}
