import os from 'node:os';
import { getSystemErrorName } from 'node:util';
import type koffi from 'koffi';
import { UserError, describeError } from '../util/errors.ts';
import { requireKoffi } from './koffi-require.ts';

// koffi is loaded on first use, never at start-up: where it cannot load (an ARMv6
// board, musl, an unwritable cache) only the commands that make syscalls fail, and
// commands that only read images keep working. RKT_FFI=off makes any machine behave
// like such a board, so the fallbacks (flock(1), mkfifo(1), fsync walks) can be tested
// and a suspect koffi ruled out; it is read here, so every FFI user sees the same.

export type Koffi = typeof koffi;

export type FfiStatus = { available: true; version: string } | { available: false; reason: string };

let loaded: { koffi: Koffi } | { error: UserError } | undefined;

/** The koffi module; throws a one-line UserError where it cannot load. */
export function loadFfi(): Koffi {
  // A failed load is remembered: koffi's module body runs only once per process.
  loaded ??= load();
  if ('error' in loaded) throw loaded.error;
  return loaded.koffi;
}

/** Whether FFI works here, for `rkt version` and diagnostics; loads koffi if it can. */
export function ffiStatus(): FfiStatus {
  try {
    return { available: true, version: loadFfi().version };
  } catch (err) {
    return { available: false, reason: err instanceof UserError ? err.message : describeError(err) };
  }
}

/** Why koffi must not even be tried on this machine, or undefined when it may. */
export function unsupportedReason(platform: string, arch: string, machine: string): string | undefined {
  if (platform !== 'linux') return 'rkt runs pods on linux only';
  // koffi's 32-bit ARM build is ARMv7-A code: on ARMv6 it would load and later die of SIGILL.
  if (arch === 'arm' && /^armv[4-6]/.test(machine)) return 'koffi ships no build for ARMv6 or older CPUs';
  return undefined;
}

/** Why the environment turns FFI off, or undefined when it does not. */
function disabledReason(env: NodeJS.ProcessEnv): string | undefined {
  return env.RKT_FFI === 'off' ? 'turned off by RKT_FFI=off' : undefined;
}

function load(): { koffi: Koffi } | { error: UserError } {
  const machine = os.machine();
  const fail = (reason: string) => ({
    error: new UserError(
      `this command needs the native FFI part (koffi), which cannot load on ${process.platform} ${machine}: ` +
        `${reason}; commands that only read images still work`,
    ),
  });
  const reason = disabledReason(process.env) ?? unsupportedReason(process.platform, process.arch, machine);
  if (reason) return fail(reason);
  try {
    return { koffi: requireKoffi() };
  } catch (err) {
    return fail(describeError(err));
  }
}

/** A failed call's `errno` (as koffi.errno() gives it, positive) as a Node-style system error. */
export function errnoError(syscall: string, path: string, errno: number): NodeJS.ErrnoException {
  const code = getSystemErrorName(-errno);
  return Object.assign(new Error(`${syscall} \`${path}\`: ${code}`), { syscall, path, errno: -errno, code });
}
