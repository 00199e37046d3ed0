import { ExitCode, UserError } from '../util/errors.ts';

// What a user can do about a failed store write depends on the errno, so the common
// ones become one line saying it; anything else travels on as the system error.

const REMEDY: Record<string, string> = {
  ENOSPC: 'no space left on the device: free some space (`rkt image gc` removes unused images) and try again',
  EDQUOT: 'disk quota exceeded: free some space (`rkt image gc` removes unused images) and try again',
  EROFS: 'the file system is read-only: remount it read-write or pass --dir a writable directory',
  EACCES: 'permission denied: run as root or pass --dir a directory you can write',
  EPERM: 'operation not permitted: run as root or pass --dir a directory you can write',
  ENOTDIR: 'a part of the path is not a directory: pass --dir a directory',
};

/** `err` as a one-line UserError when its errno has a known remedy. */
export function storeWriteError(err: unknown, doing: string, dir: string): unknown {
  const code = (err as NodeJS.ErrnoException).code;
  const remedy = code === undefined ? undefined : REMEDY[code];
  if (remedy === undefined) return err;
  return new UserError(`store: ${doing} in ${dir}: ${remedy}`, ExitCode.rktFailure, { cause: err });
}
