import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

// What many test files need: the repository root, whether we are root, a throw-away
// directory, and running a script with node in a minimal environment.

export const root = path.resolve(import.meta.dirname, '../..');
export const isRoot = process.getuid?.() === 0;

/** A fresh directory outside the repo, with no node_modules above it, readable by all. */
export function emptyDir(t: { after(fn: () => void): void }): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rkt-test-'));
  fs.chmodSync(dir, 0o755);
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export interface RunOptions {
  cwd: string;
  env?: Record<string, string>;
  /** Run as nobody:nogroup (needs root). */
  asNobody?: boolean;
}

/** Run `node file args` with a minimal environment: no NODE_PATH, no XDG dirs, no HOME. */
export function runNode(file: string, args: string[], opts: RunOptions): SpawnSyncReturns<string> {
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', ...opts.env };
  const argv = [process.execPath, file, ...args];
  const cmd = opts.asNobody ? ['setpriv', '--reuid=nobody', '--regid=nogroup', '--clear-groups', ...argv] : argv;
  return spawnSync(cmd[0]!, cmd.slice(1), { cwd: opts.cwd, env, encoding: 'utf8', timeout: 30_000 });
}
