import { errnoError, type Koffi } from './ffi.ts';
import type { TryFlock } from './flock-variant.ts';

// flock(2) through koffi: one library call per attempt.

const LOCK_SH = 1;
const LOCK_EX = 2;
const LOCK_NB = 4;

type Flock = (fd: number, operation: number) => number;

export function ffiFlock(koffi: Koffi): TryFlock {
  const flock = koffi.load(null).func('int flock(int fd, int operation)') as Flock;
  const { EWOULDBLOCK, EINTR } = koffi.os.errno;
  return (fd, mode, path) => {
    const operation = (mode === 'shared' ? LOCK_SH : LOCK_EX) | LOCK_NB;
    for (;;) {
      if (flock(fd, operation) === 0) return true;
      const errno = koffi.errno();
      if (errno === EWOULDBLOCK) return false;
      if (errno !== EINTR) throw errnoError('flock', path, errno);
    }
  };
}
