import { describeError, UserError } from '../../util/errors.ts';

/**
 * The error as a one-line UserError with `context` in front ("cross: armv7l: package
 * busybox: ..."), unless its message starts with that already. The Debian modules
 * start their messages with "cross: " to stand alone; that is dropped under a context
 * that says it. System errors keep their syscall, path and errno.
 */
export function withContext(context: string, err: unknown): UserError {
  const message = err instanceof UserError ? err.message : describeError(err);
  if (err instanceof UserError && message.startsWith(`${context}:`)) return err;
  const exitCode = err instanceof UserError ? err.exitCode : undefined;
  return new UserError(`${context}: ${message.replace(/^cross: /, '')}`, exitCode, { cause: err });
}
