import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { PodStateDir } from '../../src/pod/layout.ts';
import type { PodRuntime } from '../../src/pod/runtime.ts';
import { tryLockFile } from '../../src/sys/flock.ts';
import { appRuntime } from '../helpers/app-runtime.ts';

// Pods made by hand, as stage0 and stage1 would leave them on disk, and pod locks held
// by another process: util-linux's flock(1) holding a pod directory while `sleep` runs.

export interface FakeApp {
  name: string;
  image: string;
  version?: string;
  /** rkt/status/<name>, written by stage1 when the app exited. */
  status?: number;
  /** rkt/started/<name>. */
  started?: boolean;
}

export interface FakePod {
  stateDir: PodStateDir;
  uuid?: string;
  apps?: FakeApp[];
  /** Write runtime.json (default true when there are apps). */
  runtime?: boolean;
  createdAt?: string;
  /** rkt/pid, as stage1 writes it. */
  pid?: number;
  /** The pod directory's mtime: when it entered its state (gc's clock). */
  since?: Date;
}

export function imageIdOf(name: string): string {
  return `sha512-${Buffer.from(name).toString('hex').padEnd(128, '0').slice(0, 128)}`;
}

export function treeIdOf(name: string): string {
  return `deps-${imageIdOf(name)}`;
}

export const STAGE1 = 'rkt-arm/stage1';

export function podManifest(apps: FakeApp[]): Record<string, unknown> {
  return {
    acVersion: '0.8.11',
    acKind: 'PodManifest',
    apps: apps.map((a) => ({
      name: a.name,
      image: { name: a.image, id: imageIdOf(a.image), labels: a.version ? [{ name: 'version', value: a.version }] : [] },
    })),
  };
}

export function podRuntime(uuid: string, apps: FakeApp[], createdAt: string): PodRuntime {
  return {
    version: 1,
    uuid,
    createdAt,
    stage1: {
      imageId: imageIdOf(STAGE1),
      treeId: treeIdOf(STAGE1),
      name: STAGE1,
      arch: 'aarch64',
      entrypoints: { run: '/init', enter: '/init', stop: '/init', gc: '/init' },
    },
    apps: apps.map((a) => appRuntime(a.name, { imageId: imageIdOf(a.image), treeId: treeIdOf(a.image), exec: ['/bin/app'], env: ['PATH=/bin'] })),
    overlay: true,
    options: { hostname: 'pod', net: 'host', interactive: false },
  };
}

/** A pod directory under `<dir>/pods/<stateDir>/`, with its files; returns its UUID and path. */
export function makePod(dir: string, spec: FakePod): { uuid: string; path: string } {
  const uuid = spec.uuid ?? randomUUID();
  const pod = path.join(dir, 'pods', spec.stateDir, uuid);
  fs.mkdirSync(path.join(pod, 'rkt', 'status'), { recursive: true, mode: 0o750 });
  fs.mkdirSync(path.join(pod, 'rkt', 'started'), { recursive: true });
  const apps = spec.apps ?? [];
  if (apps.length > 0) fs.writeFileSync(path.join(pod, 'pod'), JSON.stringify(podManifest(apps)));
  if (spec.runtime ?? apps.length > 0) {
    fs.writeFileSync(path.join(pod, 'runtime.json'), JSON.stringify(podRuntime(uuid, apps, spec.createdAt ?? new Date().toISOString())));
  }
  if (spec.pid !== undefined) fs.writeFileSync(path.join(pod, 'rkt', 'pid'), `${spec.pid}\n`);
  for (const a of apps) {
    if (a.started) fs.writeFileSync(path.join(pod, 'rkt', 'started', a.name), '');
    if (a.status !== undefined) fs.writeFileSync(path.join(pod, 'rkt', 'status', a.name), `${a.status}\n`);
  }
  if (spec.since) fs.utimesSync(pod, spec.since, spec.since);
  return { uuid, path: pod };
}

export interface HeldLock {
  pid: number;
  release(): Promise<void>;
}

/**
 * `flock DIR sleep 30` in its own process group: the lock is held by flock and by
 * sleep, which inherits its fd, until `release` kills the group (or the test ends).
 */
export async function holdLock(t: { after(fn: () => void | Promise<void>): void }, target: string): Promise<HeldLock> {
  const child = spawn('flock', ['--exclusive', target, 'sleep', '30'], { detached: true, stdio: 'ignore' });
  const pid = child.pid!;
  let released = false;
  const release = async () => {
    if (released) return;
    released = true;
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // already gone
    }
    await new Promise<void>((done) => (child.exitCode !== null || child.signalCode !== null ? done() : child.on('exit', () => done())));
    await until(() => isFree(target), 'lock to be released');
  };
  t.after(release);
  await until(() => !isFree(target), `flock(1) to lock ${target}`);
  return { pid, release };
}

function isFree(target: string): boolean {
  try {
    const lock = tryLockFile(target, 'shared', { create: false });
    lock?.release();
    return lock !== null;
  } catch {
    return true; // gone: nobody holds it
  }
}

async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 250; i++) {
    if (cond()) return;
    await sleep(20);
  }
  throw new Error(`timed out waiting for ${what}`);
}

/**
 * The fixtures' stage1 tree in the store under `dir`, whose gc entrypoint (/init) appends
 * "ARGS | CWD | ENV NAMES" to `log`, as the stage1 gc entrypoint would be run.
 */
export function makeStage1Tree(dir: string, log: string): void {
  const rootfs = path.join(dir, 'cas', 'tree', treeIdOf(STAGE1), 'rootfs');
  fs.mkdirSync(rootfs, { recursive: true });
  fs.mkdirSync(path.join(dir, 'cas', 'locks'), { recursive: true });
  const script = `#!/bin/sh\necho "$* | $(pwd) | $(env | cut -d= -f1 | grep -v '^PWD$\\|^SHLVL$\\|^_$' | sort | tr '\\n' ' ')" >> ${JSON.stringify(log)}\n`;
  fs.writeFileSync(path.join(rootfs, 'init'), script, { mode: 0o755 });
}
