import { spawnSync } from 'node:child_process';
import { UserError } from '../util/errors.ts';
import type { TryFlock } from './flock-variant.ts';

// flock(2) without FFI, for boards where koffi cannot load (a Pi Zero): util-linux's
// flock(1), essential on Debian and Raspberry Pi OS, run on our fd passed as its fd 3.
// A flock belongs to the open file description, which the child shares with us, so the
// lock it takes stays held by our fd after it exits and goes when we close that fd or
// die, exactly as if we had called flock(2) ourselves. The price is a process spawn per
// attempt (a few ms; tens on a Pi Zero), paid only where there is no other way.

// flock(1) exits with this when --nonblock finds the lock held (its --conflict-exit-code default).
const CONFLICT = 1;

export const utilFlock: TryFlock = (fd, mode, path) => {
  const r = spawnSync('flock', ['--nonblock', `--${mode}`, '3'], { stdio: ['ignore', 'ignore', 'pipe', fd], encoding: 'utf8' });
  if (r.error) {
    const code = (r.error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new UserError(`lock: ${path}: without FFI rkt locks through flock(1), which is not installed; install util-linux`);
    throw Object.assign(new Error(`flock \`${path}\`: ${r.error.message}`), { syscall: 'flock', path, code });
  }
  if (r.status === 0) return true;
  if (r.status === CONFLICT) return false;
  throw Object.assign(new Error(`flock \`${path}\`: flock(1) failed: ${r.stderr.trim() || `exit status ${r.status ?? r.signal}`}`), { syscall: 'flock', path });
};
