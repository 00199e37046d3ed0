import type { AciEntry } from '../../appc/aci-entry.ts';
import type { TarMember } from '../../appc/tar-writer.ts';
import { rootfsMembers, type TreeNode } from '../../appc/tree-members.ts';
import { safeEntryPath } from '../../appc/tree-rules.ts';
import { unsafePathReason } from '../../appc/tar-path.ts';
import { UserError } from '../../util/errors.ts';

// Docker/OCI layers applied in order into one root filesystem, held as a list of
// entries (bodies stay wherever the caller spooled them), as the OCI image spec's
// "Applying Changesets" and Docker's own extraction (which runs chrooted) lay them down:
//
// - an entry replaces whatever is at its path, except that a directory over a directory
//   only changes the directory's metadata; a non-directory replaces a whole subtree;
// - `.wh.NAME` deletes NAME (and all beneath it) from the layers below; `.wh..wh..opq`
//   in a directory deletes everything beneath it from the layers below; other
//   `.wh..wh.*` names are aufs bookkeeping and are skipped. Whiteouts act only on lower
//   layers, so their order within a layer does not matter;
// - a path whose parent is a symlink lands where the link points, inside the image: an
//   absolute target starts at the image's root (as it does for the container); a
//   relative one that climbs above the root is refused, as are names with "..";
// - a hard link must name a file already in the image (this layer or a lower one).
//
// Nothing touches a disk here: the result is tar members for the ACI writer. Pure.

/** Where a regular file's body is (see TarMember). */
export type Body = NonNullable<TreeNode['body']>;

interface Node extends TreeNode {
  /** For a hard link: the file node it shares content with, as it was when linked. */
  linkTo?: Node;
  /** The layer that put it there. */
  layer: number;
}

export const WHITEOUT_PREFIX = '.wh.';
export const OPAQUE_WHITEOUT = '.wh..wh..opq';
const MAX_SYMLINK_HOPS = 40;

/** What a layer member means for the tree, before it is applied. Pure planning, exported for tests. */
export type LayerChange =
  | { kind: 'entry'; path: string }
  | { kind: 'whiteout'; path: string }
  | { kind: 'opaque'; dir: string }
  | { kind: 'skip' };

/** Plans one tar member name of a layer; refuses names that would leave the image. */
export function planChange(name: string, label: string): LayerChange {
  // Docker strips a leading "/" (its names are relative to the layer root either way).
  const trimmed = name.replace(/^\/+/, '');
  const path = safeEntryPath(trimmed, label);
  if (path === '') return { kind: 'skip' };
  const slash = path.lastIndexOf('/');
  const dir = slash < 0 ? '' : path.slice(0, slash);
  const base = path.slice(slash + 1);
  if (!base.startsWith(WHITEOUT_PREFIX)) return { kind: 'entry', path };
  if (base === OPAQUE_WHITEOUT) return { kind: 'opaque', dir };
  if (base.startsWith(`${WHITEOUT_PREFIX}${WHITEOUT_PREFIX}`)) return { kind: 'skip' };
  const target = base.slice(WHITEOUT_PREFIX.length);
  if (target === '' || target === '.' || target === '..') {
    throw new UserError(`${label}: whiteout "${name}" names "${target}", outside its directory`);
  }
  return { kind: 'whiteout', path: dir === '' ? target : `${dir}/${target}` };
}

export class SquashTree {
  readonly #nodes = new Map<string, Node>();
  /** Names of the children of each directory path ("" is the root). */
  readonly #children = new Map<string, Set<string>>();
  readonly #dirTemplate: AciEntry;
  #layer = -1;
  #label = 'layer';

  /** `dirTime`: the mtime of parent directories no entry names. */
  constructor(dirTime: number) {
    this.#dirTemplate = { path: '', type: 'directory', mode: 0o755, uid: 0, gid: 0, mtime: dirTime, size: 0 };
  }

  /** Starts the next layer; `label` begins its error messages ("layer 2 (sha256:ab12...)"). */
  startLayer(label: string): void {
    this.#layer++;
    this.#label = label;
  }

  /**
   * Applies one member of the current layer: `entry.path` is its tar name as read
   * (whiteouts included), a hard link's linkname likewise; `body` for regular files.
   */
  apply(entry: AciEntry, body?: Body): void {
    const change = planChange(entry.path, this.#label);
    switch (change.kind) {
      case 'skip':
        return;
      case 'whiteout':
        return this.#whiteout(change.path, entry.path);
      case 'opaque':
        return this.#opaque(change.dir, entry.path);
      case 'entry':
        return this.#add(change.path, entry, body);
    }
  }

  /** The node at an image path (no symlink followed at the end), for reading /etc/passwd and the like. */
  file(path: string): { entry: AciEntry; body?: Body } | undefined {
    let resolved: string;
    try {
      resolved = this.#resolveParents(path.replace(/^\/+/, ''), path);
    } catch {
      return undefined;
    }
    const node = this.#nodes.get(resolved);
    if (!node) return undefined;
    const file = node.linkTo ?? node;
    return file.entry.type === 'file' ? { entry: file.entry, body: file.body } : undefined;
  }

  /** How many paths the image has. */
  get size(): number {
    return this.#nodes.size;
  }

  /** The tree as tar members under `rootfs/` (see rootfsMembers). */
  members(rootfsDir: AciEntry): TarMember[] {
    return rootfsMembers(this.#nodes, rootfsDir);
  }

  #add(name: string, entry: AciEntry, body: Body | undefined): void {
    const path = this.#resolveParents(name, entry.path);
    const node: Node = { entry: { ...entry, path }, layer: this.#layer };
    if (entry.type === 'file') node.body = body;
    if (entry.type === 'link') {
      const target = this.#linkTarget(entry);
      // A hard link to a symlink, a device or a FIFO is a copy of it: only files carry a body to share.
      if (target.entry.type === 'file') node.linkTo = target;
      else node.entry = { ...target.entry, path };
    }
    const old = this.#nodes.get(path);
    if (old) {
      if (old.entry.type === 'directory' && entry.type === 'directory') {
        old.entry = node.entry;
        old.layer = this.#layer;
        return;
      }
      this.#removeSubtree(path);
    }
    this.#makeParents(path);
    this.#nodes.set(path, node);
  }

  #linkTarget(entry: AciEntry): Node {
    const linkname = entry.linkname ?? '';
    const reason = unsafePathReason(linkname.replace(/^\/+/, ''));
    if (reason) throw new UserError(`${this.#label}: hard link "${entry.path}" points to "${linkname}", which ${reason}`);
    const where = this.#resolveParents(safeEntryPath(linkname.replace(/^\/+/, ''), this.#label), linkname);
    const target = this.#nodes.get(where);
    const file = target?.linkTo ?? target;
    if (!file || (file.entry.type !== 'file' && file.entry.type !== 'symlink' && file.entry.type !== 'fifo' && !file.entry.type.endsWith('-device'))) {
      throw new UserError(
        `${this.#label}: hard link "${entry.path}" points to "${linkname}", which is ${file ? `a ${file.entry.type}` : 'not in the image'}: refusing a link out of the tree`,
      );
    }
    return file;
  }

  #whiteout(name: string, raw: string): void {
    const path = this.#resolveParents(name, raw);
    if (this.#nodes.has(path)) this.#removeLower(path);
  }

  #opaque(dirName: string, raw: string): void {
    const dir = dirName === '' ? '' : this.#resolveParents(dirName, raw);
    if (dir !== '') {
      const node = this.#nodes.get(dir);
      if (!node) {
        // The directory is new in this layer and named only by its marker.
        this.#makeParents(dir);
        this.#nodes.set(dir, { entry: { ...this.#dirTemplate, path: dir }, layer: this.#layer });
        return;
      }
      if (node.entry.type !== 'directory') return;
    }
    for (const child of [...(this.#children.get(dir) ?? [])]) this.#removeLower(dir === '' ? child : `${dir}/${child}`);
  }

  /** Removes what lower layers put at and beneath `path`; this layer's own entries stay (with the directories holding them). */
  #removeLower(path: string): void {
    const node = this.#nodes.get(path);
    if (!node) return;
    const kids = this.#children.get(path);
    if (kids) for (const child of [...kids]) this.#removeLower(`${path}/${child}`);
    if (node.layer === this.#layer) return;
    if ((this.#children.get(path)?.size ?? 0) > 0) return;
    this.#delete(path);
  }

  #removeSubtree(path: string): void {
    const kids = this.#children.get(path);
    if (kids) for (const child of [...kids]) this.#removeSubtree(`${path}/${child}`);
    this.#delete(path);
  }

  #delete(path: string): void {
    this.#nodes.delete(path);
    this.#children.delete(path);
    const slash = path.lastIndexOf('/');
    this.#children.get(slash < 0 ? '' : path.slice(0, slash))?.delete(path.slice(slash + 1));
  }

  /**
   * The path with each parent that is a symlink in the tree followed, staying in the
   * image. A parent that is a file (or anything but a directory or symlink) is refused.
   */
  #resolveParents(path: string, raw: string): string {
    let parts = path.split('/').filter((p) => p !== '' && p !== '.');
    for (let i = 0, hops = 0; i < parts.length - 1; i++) {
      const prefix = parts.slice(0, i + 1).join('/');
      const node = this.#nodes.get(prefix);
      if (!node || node.entry.type === 'directory') continue;
      if (node.entry.type !== 'symlink') {
        throw new UserError(`${this.#label}: "${raw}" lies beneath ${node.entry.type} "/${prefix}"`);
      }
      if (++hops > MAX_SYMLINK_HOPS) throw new UserError(`${this.#label}: "${raw}" goes through too many symlinks`);
      const target = node.entry.linkname ?? '';
      const base = target.startsWith('/') ? [] : parts.slice(0, i);
      const next = climb([...base, ...target.split('/')]);
      if (next === undefined) {
        throw new UserError(`${this.#label}: "${raw}" goes through symlink "/${prefix}" -> "${target}", which escapes the image root`);
      }
      parts = [...next, ...parts.slice(i + 1)];
      i = -1;
    }
    return parts.join('/');
  }

  #makeParents(path: string): void {
    let parent = '';
    for (let slash = path.indexOf('/'); slash >= 0; slash = path.indexOf('/', slash + 1)) {
      const dir = path.slice(0, slash);
      if (!this.#nodes.has(dir)) this.#nodes.set(dir, { entry: { ...this.#dirTemplate, path: dir }, layer: this.#layer });
      this.#childSet(parent).add(dir.slice(parent === '' ? 0 : parent.length + 1));
      parent = dir;
    }
    this.#childSet(parent).add(path.slice(parent === '' ? 0 : parent.length + 1));
  }

  #childSet(dir: string): Set<string> {
    let set = this.#children.get(dir);
    if (!set) this.#children.set(dir, (set = new Set()));
    return set;
  }
}

/** Applies "." and ".." to path parts; undefined when ".." climbs above the root. */
function climb(parts: string[]): string[] | undefined {
  const out: string[] = [];
  for (const part of parts) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (out.length === 0) return undefined;
      out.pop();
    } else out.push(part);
  }
  return out;
}
