import type { AciEntry } from '../../appc/aci-entry.ts';
import type { TarMember } from '../../appc/tar-writer.ts';
import { rootfsMembers, type TreeNode } from '../../appc/tree-members.ts';
import { UserError } from '../../util/errors.ts';

// One arch's root filesystem as a list of entries, never written to disk: packages are
// laid down in install order, then the spec's files, each later entry replacing an
// earlier one at the same path. As dpkg does on a real disk, a path below a directory
// symlink goes where the symlink points (so /lib/x lands in /usr/lib/x on a merged-/usr
// system), and a directory never replaces a symlink.

/** Where a regular file's body is: a span of the spool, or a file on disk. */
export type Body = { span: { fd: number; position: number } } | { abs: string };

interface Node extends TreeNode {
  body?: Body;
  /** For a hard link: the file node it shares content with, as it was when linked. */
  linkTo?: Node;
}

const MAX_SYMLINK_HOPS = 40;

export class RootTree {
  readonly #nodes = new Map<string, Node>();
  readonly #hasChildren = new Set<string>();
  readonly #dirTemplate: AciEntry;

  /** `dirTime` is the mtime of directories that no entry names (parents made implicitly). */
  constructor(dirTime: number) {
    this.#dirTemplate = { path: '', type: 'directory', mode: 0o755, uid: 0, gid: 0, mtime: dirTime, size: 0 };
  }

  /**
   * Adds `entry` (path relative to the image's /; a hard link's linkname likewise).
   * `origin` names where it comes from in errors ("armv7l: package busybox").
   */
  add(entry: AciEntry, body: Body | undefined, origin: string): void {
    const path = this.#resolve(entry.path, origin);
    if (path === '') return;
    const node: Node = { entry: { ...entry, path }, body };
    if (entry.type === 'link') node.linkTo = this.#linkTarget(entry, origin);
    const old = this.#nodes.get(path);
    if (old?.entry.type === 'symlink' && entry.type === 'directory') return;
    if (old?.entry.type === 'directory' && entry.type !== 'directory' && this.#hasChildren.has(path)) {
      throw new UserError(`${origin}: "/${path}" would replace a directory that holds files`);
    }
    this.#makeParents(path);
    this.#nodes.set(path, node);
  }

  /** The tree as tar members under `rootfs/` (see rootfsMembers). */
  members(rootfsDir: AciEntry): TarMember[] {
    return rootfsMembers(this.#nodes, rootfsDir);
  }

  #linkTarget(entry: AciEntry, origin: string): Node {
    const target = this.#nodes.get(this.#resolve(entry.linkname ?? '', origin));
    const file = target?.linkTo ?? target;
    if (file?.entry.type !== 'file') {
      throw new UserError(`${origin}: hard link "/${entry.path}" points to "/${entry.linkname}", which is not a file in the image`);
    }
    return file;
  }

  /** The path with each parent that is a symlink in the tree followed, inside the image's root. */
  #resolve(path: string, origin: string): string {
    let parts = normalize(path.split('/'));
    for (let i = 0, hops = 0; i < parts.length - 1; i++) {
      const prefix = parts.slice(0, i + 1).join('/');
      const node = this.#nodes.get(prefix);
      if (!node || node.entry.type === 'directory') continue;
      if (node.entry.type !== 'symlink') throw new UserError(`${origin}: "/${path}" is below "/${prefix}", which is not a directory`);
      if (++hops > MAX_SYMLINK_HOPS) throw new UserError(`${origin}: "/${path}" goes through too many symlinks`);
      const target = node.entry.linkname ?? '';
      const base = target.startsWith('/') ? [] : parts.slice(0, i);
      parts = normalize([...base, ...target.split('/'), ...parts.slice(i + 1)]);
      i = -1;
    }
    return parts.join('/');
  }

  #makeParents(path: string): void {
    for (let slash = path.indexOf('/'); slash >= 0; slash = path.indexOf('/', slash + 1)) {
      const dir = path.slice(0, slash);
      if (!this.#nodes.has(dir)) this.#nodes.set(dir, { entry: { ...this.#dirTemplate, path: dir } });
      this.#hasChildren.add(dir);
    }
  }
}

/** Drops empty and "." parts and applies ".." without ever going above the root. */
function normalize(parts: string[]): string[] {
  const out: string[] = [];
  for (const part of parts) {
    if (part === '' || part === '.') continue;
    if (part === '..') out.pop();
    else out.push(part);
  }
  return out;
}
