import { UserError } from '../util/errors.ts';
import { isWithin } from './tar-path.ts';
import { TreeRules, safeEntryPath, type TarMember } from './tree-rules.ts';

// The rules an image archive must follow (appc aci.md, "Image Archives"): the safe
// tree rules, and the layout of a manifest beside a rootfs directory.

export type { TarMember } from './tree-rules.ts';

export class ArchiveRules {
  readonly #tree = new TreeRules('aci', 'rootfs');

  /**
   * Checks one member and returns its normalized path, or null for the archive
   * root ("./", as `tar -C dir .` writes it), which carries nothing.
   */
  admit(member: TarMember): string | null {
    const { name, type } = member;
    const path = safeEntryPath(name, 'aci');
    if (path === '' && type === 'directory') return null;
    if (path !== 'manifest' && !isWithin(path, 'rootfs')) {
      throw new UserError(`aci: entry "${name}" is neither the manifest nor under rootfs`);
    }
    if (path === 'manifest' && type !== 'file') throw new UserError(`aci: "manifest" is a ${type}, not a regular file`);
    if (path === 'rootfs' && type !== 'directory') throw new UserError(`aci: "rootfs" is a ${type}, not a directory`);
    this.#tree.add(path, member);
    return path;
  }

  /** Checks what can only be known at the end of the archive. */
  finish(): void {
    if (!this.#tree.has('manifest')) throw new UserError('aci: archive has no manifest');
    if (!this.#tree.has('rootfs')) throw new UserError('aci: archive has no rootfs directory');
  }
}
