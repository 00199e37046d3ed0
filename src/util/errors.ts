// One error idiom for the whole project (after crun): a failure carries a short
// lowercase message that names the thing it concerns (`aci: entry "x" ...`,
// `manifest: app.user ...`), and the CLI prints it as one line and exits with
// the UserError's `exitCode`; system errors are shown by syscall, path and errno.

/** Exit codes shared by rkt and actool. Scripts depend on them: never renumber. */
export const ExitCode = {
  ok: 0,
  /** Invalid input: a manifest, an archive, a file that is not what it should be. */
  invalid: 1,
  /** The command line itself is wrong. */
  usage: 2,
  /** `rkt status --wait-ready`: the pod exited, or an app failed, before it was ready. */
  notReady: 3,
  /** rkt's own failure (as in CoreOS rkt): not the app's exit status. */
  rktFailure: 254,
} as const;

export class UserError extends Error {
  override name = 'UserError';
  constructor(
    message: string,
    readonly exitCode: number = ExitCode.invalid,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/**
 * `err` with `context` in front of its message, as it travels up ("fetch: dependency
 * x of y: ..."). `strip` drops a command word the inner message starts with when the
 * context already says it ("cross: "). A message that already starts with the context
 * is left alone. A UserError keeps its exit code; any other error stays unexpected (no
 * UserError) but keeps its syscall, path and errno in the text.
 */
export function withContext(context: string, err: unknown, strip?: string): Error {
  const message = err instanceof UserError ? err.message : describeError(err);
  if (message.startsWith(`${context}:`)) return err instanceof Error ? err : new Error(message);
  const text = `${context}: ${strip && message.startsWith(strip) ? message.slice(strip.length) : message}`;
  return err instanceof UserError ? new UserError(text, err.exitCode, { cause: err }) : new Error(text, { cause: err });
}

/** One line for a user: a system error's code and path read better than Node's stack-y text. */
export function describeError(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const sys = err as NodeJS.ErrnoException;
  if (sys.code && sys.syscall && !(err instanceof UserError)) {
    const where = sys.path ? ` \`${sys.path}\`` : '';
    return `${sys.syscall}${where}: ${errnoText(sys.code)}`;
  }
  return err.message.split('\n')[0] ?? '';
}

const ERRNO_TEXT: Record<string, string> = {
  ENOENT: 'no such file or directory',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EEXIST: 'file exists',
  ENOTDIR: 'not a directory',
  EISDIR: 'is a directory',
  ENOSPC: 'no space left on device',
  ELOOP: 'too many levels of symbolic links',
};

function errnoText(code: string): string {
  return ERRNO_TEXT[code] ?? code.toLowerCase();
}

/**
 * For commands whose exit status is an app's (rkt run, run-prepared, enter): any
 * failure of rkt's own exits 254, as in CoreOS rkt, so a script can tell it from the
 * app's 1; usage errors keep 2.
 */
export async function exitingAsRkt<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof UserError && err.exitCode !== ExitCode.usage && err.exitCode !== ExitCode.rktFailure) {
      throw new UserError(err.message, ExitCode.rktFailure, { cause: err });
    }
    throw err;
  }
}
