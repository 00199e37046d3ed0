import { constants, lstatSync, readdirSync, type Stats } from 'node:fs';
import { join } from 'node:path';

/** The parts of lstat that an archive entry is made from. */
export type EntryStats = Pick<
  Stats,
  | 'mode'
  | 'uid'
  | 'gid'
  | 'size'
  | 'mtimeMs'
  | 'nlink'
  | 'rdev'
  | 'isFile'
  | 'isDirectory'
  | 'isSymbolicLink'
  | 'isFIFO'
  | 'isCharacterDevice'
  | 'isBlockDevice'
>;

export interface WalkedPath {
  /** The archive path: `prefix` followed by the path below the walked root. */
  path: string;
  abs: string;
  stats: EntryStats;
}

/**
 * Every path under `root` (itself included), lstat'ed and never followed,
 * sorted bytewise by archive path, so a directory precedes its contents and the
 * order does not depend on the filesystem or the locale.
 *
 * Synchronous on purpose: a promise and a thread-pool round trip per lstat made
 * walking 20,000 files four times slower, and nothing else runs meanwhile.
 */
export function walkTree(root: string, prefix: string): WalkedPath[] {
  const found: WalkedPath[] = [];
  const visit = (abs: string, path: string): void => {
    const stats = new KeptStats(lstatSync(abs));
    found.push({ path, abs, stats });
    if (!stats.isDirectory()) return;
    for (const name of readdirSync(abs)) visit(join(abs, name), `${path}/${name}`);
  };
  visit(root, prefix);
  const keyed = found.map((w) => ({ w, key: Buffer.from(w.path) }));
  keyed.sort((a, b) => Buffer.compare(a.key, b.key));
  return keyed.map((k) => k.w);
}

const { S_IFMT, S_IFREG, S_IFDIR, S_IFLNK, S_IFIFO, S_IFCHR, S_IFBLK } = constants;

// The whole tree is held until the tar is written, and an fs.Stats costs about 750 bytes
// of heap: 15 MB for 20,000 files, two thirds of what the walk held (measured with
// --expose-gc, heapUsed before and after). The seven numbers kept here cost under 100.
class KeptStats implements EntryStats {
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly size: number;
  readonly mtimeMs: number;
  readonly nlink: number;
  readonly rdev: number;

  constructor(s: Stats) {
    this.mode = s.mode;
    this.uid = s.uid;
    this.gid = s.gid;
    this.size = s.size;
    this.mtimeMs = s.mtimeMs;
    this.nlink = s.nlink;
    this.rdev = s.rdev;
  }

  isFile(): boolean {
    return (this.mode & S_IFMT) === S_IFREG;
  }
  isDirectory(): boolean {
    return (this.mode & S_IFMT) === S_IFDIR;
  }
  isSymbolicLink(): boolean {
    return (this.mode & S_IFMT) === S_IFLNK;
  }
  isFIFO(): boolean {
    return (this.mode & S_IFMT) === S_IFIFO;
  }
  isCharacterDevice(): boolean {
    return (this.mode & S_IFMT) === S_IFCHR;
  }
  isBlockDevice(): boolean {
    return (this.mode & S_IFMT) === S_IFBLK;
  }
}
