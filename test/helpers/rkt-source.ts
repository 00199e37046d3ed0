import { spawn, spawnSync } from 'node:child_process';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { emptyDir, root } from './run.ts';

// rkt run from source (src/cli/rkt.ts through tsx), as the CLI tests use it: in a
// throw-away directory with its own --dir and config directories and only PATH in its
// environment, so nothing of the host's rkt setup leaks in.

const tsx = pathToFileURL(path.join(root, 'node_modules/tsx/dist/loader.mjs')).href;

export interface RktResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

export interface RktEnv {
  /** The throw-away directory, also rkt's working directory. */
  dir: string;
  /** The store: --dir. */
  data: string;
  rkt(args: string[]): RktResult;
  /** For a command that must keep running while the test changes the pod. */
  rktAsync(args: string[]): Promise<RktResult>;
}

const rktArgv = (args: string[]) => ['--import', tsx, path.join(root, 'src/cli/rkt.ts'), ...args];
const rktEnvironment = { PATH: process.env.PATH ?? '/usr/bin:/bin' };

/** rkt with exactly these arguments (no --dir added), in `cwd`. */
export function runRkt(args: string[], cwd: string): RktResult {
  const r = spawnSync(process.execPath, rktArgv(args), { cwd, env: rktEnvironment, encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

export function rktEnv(t: { after(fn: () => void): void }): RktEnv {
  const dir = emptyDir(t);
  const data = path.join(dir, 'data');
  // The global flags go first: anything after a `--` in args is a command's, not rkt's.
  const flags = [`--dir=${data}`, `--local-config=${path.join(dir, 'etc')}`, `--system-config=${path.join(dir, 'lib')}`];
  return {
    dir,
    data,
    rkt: (args) => runRkt([...flags, ...args], dir),
    rktAsync(args) {
      const child = spawn(process.execPath, rktArgv([...flags, ...args]), { cwd: dir, env: rktEnvironment, stdio: ['ignore', 'pipe', 'pipe'] });
      child.stdout.setEncoding('utf8');
      child.stderr.setEncoding('utf8');
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: string) => (stdout += d));
      child.stderr.on('data', (d: string) => (stderr += d));
      return new Promise((done) => child.on('close', (status) => done({ status, stdout, stderr })));
    },
  };
}
