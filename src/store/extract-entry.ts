import {
  chmodSync,
  chownSync,
  closeSync,
  constants,
  fchmodSync,
  fchownSync,
  fstatSync,
  futimesSync,
  lchownSync,
  linkSync,
  lstatSync,
  lutimesSync,
  mkdirSync,
  openSync,
  symlinkSync,
  utimesSync,
  writeSync,
  type Stats,
} from 'node:fs';
import { UserError } from '../util/errors.ts';
import { S_IFBLK, S_IFCHR, S_IFIFO, mknod } from '../sys/mknod.ts';
import { fdPath, type TreeRoot } from './extract-path.ts';

// Writes one entry of each kind beneath a TreeRoot, which has already refused any
// symlink or non-directory on the way. Nothing here follows the last component:
// files are created O_CREAT|O_EXCL|O_NOFOLLOW and changed through their fd, symlinks
// are made with their target verbatim (we never resolve it: it means something only
// inside the container), nodes are changed through an O_PATH fd whose type was checked.
//
// The calls are synchronous: entries come one at a time from the archive stream, and
// with a round trip through libuv's pool for each open, write and close, extracting
// 20,000 small files spent two thirds of its time idle, waiting for the pool.

export type NodeType = 'fifo' | 'character-device' | 'block-device';
export type LinkableType = 'file' | 'symlink' | NodeType;

export interface EntryMeta {
  mode: number;
  uid: number;
  gid: number;
  /** Seconds since the epoch; undefined leaves the time as it is. */
  mtime?: number;
}

const FILE_FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;
// Not in fs.constants; this value holds on every arch koffi runs on.
const O_PATH = 0o10000000;
const NODE_TYPE_BITS: Record<NodeType, number> = { fifo: S_IFIFO, 'character-device': S_IFCHR, 'block-device': S_IFBLK };

export class TreeWriter {
  readonly #root: TreeRoot;
  readonly #asRoot: boolean;

  /** `asRoot`: apply owners and keep setuid/setgid; otherwise files stay ours. */
  constructor(root: TreeRoot, asRoot: boolean) {
    this.#root = root;
    this.#asRoot = asRoot;
  }

  /** A directory, owner-only until `directoryMeta` gives it its own mode. */
  async mkdir(rel: string): Promise<void> {
    await this.#root.at(rel, (path) => mkdirSync(path, 0o700));
  }

  /** A regular file with `body` streamed into it. */
  async file(rel: string, meta: EntryMeta, body: AsyncIterable<Buffer> | Iterable<Buffer>): Promise<void> {
    await this.#root.at(rel, async (path) => {
      const fd = openSync(path, FILE_FLAGS, 0o600);
      try {
        for await (const chunk of body) writeAll(fd, chunk);
        this.#apply(fd, meta);
      } finally {
        closeSync(fd);
      }
    });
  }

  async symlink(rel: string, target: string, meta: EntryMeta): Promise<void> {
    await this.#root.at(rel, (path) => {
      symlinkSync(target, path);
      if (this.#asRoot) lchownSync(path, meta.uid, meta.gid);
      if (meta.mtime !== undefined) lutimesSync(path, meta.mtime, meta.mtime);
    });
  }

  /** A hard link to `target`, an entry already written in this tree, which must be a `type`. */
  async link(rel: string, target: string, type: LinkableType): Promise<void> {
    await this.#root.at(target, (targetPath) =>
      this.#root.at(rel, (path) => {
        if (!isType(lstatSync(targetPath), type)) throw new UserError(`extract: hard link "${rel}" points to "${target}", which is not a ${type}`);
        linkSync(targetPath, path);
      }),
    );
  }

  /** A FIFO or device node (mknod through FFI). */
  async node(rel: string, type: NodeType, meta: EntryMeta, devmajor = 0, devminor = 0): Promise<void> {
    await this.#root.at(rel, (path) => {
      mknod(path, NODE_TYPE_BITS[type] | 0o600, devmajor, devminor);
      // chmod and chown follow symlinks: go through an fd of the node itself.
      const fd = openSync(path, O_PATH | constants.O_NOFOLLOW);
      try {
        if (!isType(fstatSync(fd), type)) throw new UserError(`extract: "${rel}" was replaced while it was being made`);
        const self = fdPath(fd);
        if (this.#asRoot) chownSync(self, meta.uid, meta.gid);
        chmodSync(self, this.#mode(meta.mode));
        if (meta.mtime !== undefined) utimesSync(self, meta.mtime, meta.mtime);
      } finally {
        closeSync(fd);
      }
    });
  }

  /** A directory's owner, mode and mtime ("" is the root); call once nothing more is written beneath it. */
  directoryMeta(rel: string, meta: EntryMeta): void {
    const fd = this.#root.openDir(rel);
    try {
      this.#apply(fd, meta);
    } finally {
      closeSync(fd);
    }
  }

  #apply(fd: number, meta: EntryMeta): void {
    // chown first: it clears setuid and setgid.
    if (this.#asRoot) fchownSync(fd, meta.uid, meta.gid);
    fchmodSync(fd, this.#mode(meta.mode));
    if (meta.mtime !== undefined) futimesSync(fd, meta.mtime, meta.mtime);
  }

  /** setuid and setgid only survive as root: as anyone else they would be ours. */
  #mode(mode: number): number {
    return mode & (this.#asRoot ? 0o7777 : 0o1777);
  }
}

function writeAll(fd: number, chunk: Buffer): void {
  for (let done = 0; done < chunk.length; ) done += writeSync(fd, chunk, done);
}

function isType(stats: Stats, type: LinkableType): boolean {
  switch (type) {
    case 'file':
      return stats.isFile();
    case 'symlink':
      return stats.isSymbolicLink();
    case 'fifo':
      return stats.isFIFO();
    case 'character-device':
      return stats.isCharacterDevice();
    case 'block-device':
      return stats.isBlockDevice();
  }
}
