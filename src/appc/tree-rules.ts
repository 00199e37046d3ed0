import { UserError } from '../util/errors.ts';
import type { AciEntryType } from './aci-entry.ts';
import { ancestorsOf, isWithin, normalizeEntryPath, unsafePathReason } from './tar-path.ts';

// The rules any tar tree must follow to be extracted safely, checked one member at a
// time so a bad archive is refused as soon as it shows it. Image archives (appc) and
// Debian packages' data.tar share them; each adds its own layout rules on top.

export interface TarMember {
  name: string;
  type: AciEntryType;
  size: number;
  linkname?: string;
}

/** The normalized form of a member name, refused when it climbs out or starts at "/". */
export function safeEntryPath(name: string, label: string): string {
  const reason = unsafePathReason(name);
  if (reason) throw new UserError(`${label}: entry "${name}" ${reason}`);
  return normalizeEntryPath(name);
}

export class TreeRules {
  readonly #types = new Map<string, AciEntryType>();
  /** Every path some entry lies beneath: those must stay directories. */
  readonly #parents = new Set<string>();

  /**
   * @param label starts every message: `aci`, `deb: x.deb`.
   * @param root where hard links must point beneath (`rootfs`), or undefined for anywhere in the tree.
   */
  constructor(
    readonly label: string,
    readonly root?: string,
  ) {}

  has(path: string): boolean {
    return this.#types.has(path);
  }

  /** Checks a member whose name `path` is already safe and normalized, and records it. */
  add(path: string, member: TarMember): void {
    const { type } = member;
    if (this.#types.has(path)) throw new UserError(`${this.label}: duplicate entry "${path}"`);
    // Only regular files carry data; a size elsewhere would make tar readers disagree on where the next header is.
    if (type !== 'file' && member.size !== 0) throw new UserError(`${this.label}: ${type} "${path}" has a size of ${member.size}`);
    this.#checkPlace(path, type);
    if (type === 'link') this.#checkHardLink(path, member.linkname ?? '');
    this.#types.set(path, type);
  }

  /** A path beneath a file or symlink could only be written by following or replacing it. */
  #checkPlace(path: string, type: AciEntryType): void {
    for (const parent of ancestorsOf(path)) {
      const parentType = this.#types.get(parent);
      if (parentType !== undefined && parentType !== 'directory') {
        throw new UserError(`${this.label}: entry "${path}" lies beneath ${parentType} "${parent}"`);
      }
      this.#parents.add(parent);
    }
    if (type !== 'directory' && this.#parents.has(path)) {
      throw new UserError(`${this.label}: ${type} "${path}" has entries beneath it`);
    }
  }

  #checkHardLink(path: string, linkname: string): void {
    const reason = unsafePathReason(linkname);
    if (reason) throw new UserError(`${this.label}: hard link "${path}" points to "${linkname}", which ${reason}`);
    const target = normalizeEntryPath(linkname);
    if (this.root !== undefined && (target === this.root || !isWithin(target, this.root))) {
      throw new UserError(`${this.label}: hard link "${path}" points to "${linkname}", outside ${this.root}`);
    }
    const targetType = this.#types.get(target);
    if (targetType === undefined) {
      throw new UserError(`${this.label}: hard link "${path}" points to "${linkname}", which is not earlier in the archive`);
    }
    if (targetType === 'directory') throw new UserError(`${this.label}: hard link "${path}" points to directory "${linkname}"`);
  }
}
