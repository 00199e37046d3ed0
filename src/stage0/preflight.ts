import { isatty } from 'node:tty';
import { namespaceSupport } from '../sys/kernel-features.ts';
import { ExitCode, UserError } from '../util/errors.ts';

/**
 * What every command that makes or joins pods needs, checked before any work so that a
 * user without root or a kernel without namespaces gets one line and no half-made pod.
 */
export function checkCanRunPods(command: string): void {
  if (process.getuid?.() !== 0) {
    throw new UserError(`${command}: pods need root (namespaces, mounts, chroot): run it as root, e.g. with sudo`);
  }
  const ns = namespaceSupport();
  if (!ns.ok) throw new UserError(`${command}: ${ns.reason}: this kernel cannot run pods`);
}

/** --interactive hands stdin's terminal to the app: checked before any pod is made. */
export function checkInteractive(command: string, interactive: boolean): void {
  if (interactive && !isatty(0)) {
    throw new UserError(`${command}: --interactive needs a terminal on stdin: run it from a terminal, or leave --interactive out`, ExitCode.usage);
  }
}
