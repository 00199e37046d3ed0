import { UserError } from '../util/errors.ts';
import { log } from '../util/log.ts';
import { loadFfi } from './ffi.ts';
import { ffiFlock } from './flock-ffi.ts';
import { utilFlock } from './flock-util.ts';

// The two ways of taking a flock(2): a library call through koffi where it loads, else
// util-linux's flock(1) on our fd. Picked once per process; both lock the open file
// description, so releasing is closing the fd either way.

export type LockMode = 'shared' | 'exclusive';

/** Takes the lock on `fd` without waiting: true when taken, false when another open file holds it. */
export type TryFlock = (fd: number, mode: LockMode, path: string) => boolean;

let chosen: TryFlock | undefined;

export function tryFlock(): TryFlock {
  chosen ??= choose();
  return chosen;
}

function choose(): TryFlock {
  let koffi;
  try {
    koffi = loadFfi();
  } catch (err) {
    if (!(err instanceof UserError)) throw err;
    log().debug({ reason: err.message }, 'locks: flock(1), since FFI is unavailable');
    return utilFlock;
  }
  log().debug('locks: flock(2) through koffi');
  return ffiFlock(koffi);
}
