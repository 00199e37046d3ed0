import { UserError } from '../util/errors.ts';
import type { AciEntryType } from './aci-entry.ts';
import { ancestorsOf, isWithin, normalizeEntryPath, unsafePathReason } from './tar-path.ts';

// The rules an image archive must follow (appc aci.md, "Image Archives"), checked
// one tar member at a time so a bad archive is refused as soon as it shows it.

export interface TarMember {
  name: string;
  type: AciEntryType;
  size: number;
  linkname?: string;
}

export class ArchiveRules {
  readonly #types = new Map<string, AciEntryType>();
  /** Every path some entry lies beneath: those must stay directories. */
  readonly #parents = new Set<string>();

  /**
   * Checks one member and returns its normalized path, or null for the archive
   * root ("./", as `tar -C dir .` writes it), which carries nothing.
   */
  admit(member: TarMember): string | null {
    const { name, type } = member;
    const reason = unsafePathReason(name);
    if (reason) throw new UserError(`aci: entry "${name}" ${reason}`);
    const path = normalizeEntryPath(name);
    if (path === '' && type === 'directory') return null;
    if (path !== 'manifest' && !isWithin(path, 'rootfs')) {
      throw new UserError(`aci: entry "${name}" is neither the manifest nor under rootfs`);
    }
    if (path === 'manifest' && type !== 'file') throw new UserError(`aci: "manifest" is a ${type}, not a regular file`);
    if (path === 'rootfs' && type !== 'directory') throw new UserError(`aci: "rootfs" is a ${type}, not a directory`);
    if (this.#types.has(path)) throw new UserError(`aci: duplicate entry "${path}"`);
    // Only regular files carry data; a size elsewhere would make tar readers disagree on where the next header is.
    if (type !== 'file' && member.size !== 0) throw new UserError(`aci: ${type} "${path}" has a size of ${member.size}`);
    this.#checkPlace(path, type);
    if (type === 'link') this.#checkHardLink(path, member.linkname ?? '');
    this.#types.set(path, type);
    return path;
  }

  /** Checks what can only be known at the end of the archive. */
  finish(): void {
    if (!this.#types.has('manifest')) throw new UserError('aci: archive has no manifest');
    if (!this.#types.has('rootfs')) throw new UserError('aci: archive has no rootfs directory');
  }

  /** A path beneath a file or symlink could only be written by following or replacing it. */
  #checkPlace(path: string, type: AciEntryType): void {
    for (const parent of ancestorsOf(path)) {
      const parentType = this.#types.get(parent);
      if (parentType !== undefined && parentType !== 'directory') {
        throw new UserError(`aci: entry "${path}" lies beneath ${parentType} "${parent}"`);
      }
      this.#parents.add(parent);
    }
    if (type !== 'directory' && this.#parents.has(path)) {
      throw new UserError(`aci: ${type} "${path}" has entries beneath it`);
    }
  }

  #checkHardLink(path: string, linkname: string): void {
    const reason = unsafePathReason(linkname);
    if (reason) throw new UserError(`aci: hard link "${path}" points to "${linkname}", which ${reason}`);
    const target = normalizeEntryPath(linkname);
    if (target === 'rootfs' || !isWithin(target, 'rootfs')) {
      throw new UserError(`aci: hard link "${path}" points to "${linkname}", outside rootfs`);
    }
    const targetType = this.#types.get(target);
    if (targetType === undefined) {
      throw new UserError(`aci: hard link "${path}" points to "${linkname}", which is not earlier in the archive`);
    }
    if (targetType === 'directory') throw new UserError(`aci: hard link "${path}" points to directory "${linkname}"`);
  }
}
