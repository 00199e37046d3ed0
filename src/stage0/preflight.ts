import { namespaceSupport } from '../sys/kernel-features.ts';
import { UserError } from '../util/errors.ts';

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
