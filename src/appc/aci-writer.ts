import type { Stats } from 'node:fs';
import { lstat, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { UserError } from '../util/errors.ts';
import type { AciEntry } from './aci-entry.ts';
import { deviceNumbers } from './device-number.ts';
import { readLargeFile, readSmallFile } from './file-body.ts';
import { checkLayoutTop } from './layout.ts';
import { END_OF_ARCHIVE, encodeTarHeader, paddingAfter } from './tar-header.ts';
import { walkTree, type WalkedPath } from './tree-walk.ts';

export interface PackOptions {
  /** Record every entry as owned by 0:0. */
  ownerRoot?: boolean;
  /** Record every entry as owned by this pair. */
  owner?: { uid: number; gid: number };
  /** Clamp mtimes to at most this many seconds since the epoch (SOURCE_DATE_EPOCH). */
  sourceDateEpoch?: number;
  /** The manifest's bytes, instead of the layout's `manifest` file. */
  manifestBytes?: Buffer;
}

// Files up to this size are read whole, several ahead of the one being written, so
// that a tree of many small files costs one round trip per file, not three in a row.
const SMALL_FILE = 1024 * 1024;
const PREFETCH_FILES = 64;
const PREFETCH_BYTES = 16 * 1024 * 1024;
// Small entries are gathered into chunks of this size: fewer, bigger writes downstream.
const BATCH = 256 * 1024;
const ZEROS = Buffer.alloc(512);

interface Planned {
  entry: AciEntry;
  /** Where the content is read from, for regular files. */
  abs?: string;
  /** The content itself, when it does not come from disk. */
  content?: Buffer;
}

/**
 * The uncompressed tar of an image layout: `manifest` then `rootfs/**`, sorted
 * bytewise, the same bytes for the same tree and options. Symlinks are stored,
 * never followed; hard links within rootfs become link entries.
 */
export function packAci(layoutDir: string, opts: PackOptions = {}): Readable {
  return Readable.from(tarChunks(layoutDir, opts), { objectMode: false, highWaterMark: BATCH });
}

async function* tarChunks(layoutDir: string, opts: PackOptions): AsyncGenerator<Buffer> {
  const plan = await planArchive(layoutDir, opts);
  const prefetch = new Prefetch(plan);
  let batch: Buffer[] = [];
  let batched = 0;
  const add = (buf: Buffer): void => {
    batch.push(buf);
    batched += buf.length;
  };
  const flush = (): Buffer => {
    const out = Buffer.concat(batch, batched);
    batch = [];
    batched = 0;
    return out;
  };
  for (const [i, { entry, abs, content }] of plan.entries()) {
    add(encodeTarHeader(entry));
    if (content) add(content);
    else if (isPrefetched(plan[i]!)) add(await prefetch.take(i));
    else if (abs !== undefined && entry.type === 'file' && entry.size > 0) {
      if (batched > 0) yield flush();
      yield* readLargeFile(abs, entry.path, entry.size);
    }
    if (entry.type === 'file') add(ZEROS.subarray(0, paddingAfter(entry.size)));
    if (batched >= BATCH) yield flush();
  }
  add(END_OF_ARCHIVE);
  yield flush();
}

function isPrefetched({ entry, abs }: Planned): boolean {
  return abs !== undefined && entry.type === 'file' && entry.size > 0 && entry.size <= SMALL_FILE;
}

/** Reads small files ahead of the writer, within a bound of files and bytes. */
class Prefetch {
  readonly #plan: Planned[];
  readonly #pending = new Map<number, Promise<Buffer>>();
  #next = 0;
  #bytes = 0;

  constructor(plan: Planned[]) {
    this.#plan = plan;
  }

  /** The content of plan[i]; taken in increasing order of i. */
  take(i: number): Promise<Buffer> {
    this.#fill();
    const content = this.#pending.get(i)!;
    this.#pending.delete(i);
    this.#bytes -= this.#plan[i]!.entry.size;
    this.#fill();
    return content;
  }

  #fill(): void {
    while (this.#next < this.#plan.length && this.#pending.size < PREFETCH_FILES && this.#bytes < PREFETCH_BYTES) {
      const i = this.#next++;
      const item = this.#plan[i]!;
      if (!isPrefetched(item)) continue;
      const content = readSmallFile(item.abs!, item.entry.path, item.entry.size);
      // Handled when taken; until then a failure must not count as unhandled.
      content.catch(() => {});
      this.#pending.set(i, content);
      this.#bytes += item.entry.size;
    }
  }
}

async function planArchive(layoutDir: string, opts: PackOptions): Promise<Planned[]> {
  await checkLayoutTop(layoutDir, { manifest: opts.manifestBytes === undefined });
  const rootfs = await walkTree(join(layoutDir, 'rootfs'), 'rootfs');
  const described = new Describer(opts);
  const manifest: Planned = opts.manifestBytes
    ? {
        entry: { ...described.common('manifest', rootfs[0]!.stats), mode: 0o644, type: 'file', size: opts.manifestBytes.length },
        content: opts.manifestBytes,
      }
    : await manifestFromFile(join(layoutDir, 'manifest'), described);
  // Symlink targets and exact inode keys are fetched in parallel; link decisions are then made in order.
  const extras = await Promise.all(rootfs.map((w) => linkFacts(w)));
  const firstPathOf = new Map<string, string>();
  const planned = rootfs.map((w, i) => {
    const { target, inode } = extras[i]!;
    const first = inode === undefined ? undefined : firstPathOf.get(inode);
    if (inode !== undefined && first === undefined) firstPathOf.set(inode, w.path);
    const entry: AciEntry =
      first === undefined ? described.entry(w, target) : { ...described.common(w.path, w.stats), type: 'link', size: 0, linkname: first };
    return { entry, abs: w.abs };
  });
  return [manifest, ...planned];
}

async function manifestFromFile(abs: string, described: Describer): Promise<Planned> {
  const stats = await lstat(abs);
  return { entry: described.entry({ path: 'manifest', abs, stats }, undefined), abs };
}

/** A symlink's target, and for a file with several names, an exact device and inode key. */
async function linkFacts(w: WalkedPath): Promise<{ target?: string; inode?: string }> {
  if (w.stats.isSymbolicLink()) return { target: await readlink(w.abs) };
  if (w.stats.isDirectory() || w.stats.nlink < 2) return {};
  // Inode numbers can exceed 2^53; bigint stats keep two files from sharing a key.
  const exact = await lstat(w.abs, { bigint: true });
  return { inode: `${exact.dev}:${exact.ino}` };
}

/** Turns stats into entry metadata under the packing options. */
class Describer {
  readonly #opts: PackOptions;

  constructor(opts: PackOptions) {
    this.#opts = opts;
  }

  common(path: string, stats: Stats): Pick<AciEntry, 'path' | 'mode' | 'uid' | 'gid' | 'mtime'> {
    const { ownerRoot, owner, sourceDateEpoch } = this.#opts;
    const ids = ownerRoot ? { uid: 0, gid: 0 } : (owner ?? { uid: stats.uid, gid: stats.gid });
    const mtime = Math.floor(stats.mtimeMs / 1000);
    return {
      path,
      mode: stats.mode & 0o7777,
      uid: ids.uid,
      gid: ids.gid,
      mtime: sourceDateEpoch === undefined ? mtime : Math.min(mtime, sourceDateEpoch),
    };
  }

  entry({ path, stats }: WalkedPath, symlinkTarget: string | undefined): AciEntry {
    const common = this.common(path, stats);
    if (stats.isFile()) return { ...common, type: 'file', size: stats.size };
    if (stats.isDirectory()) return { ...common, type: 'directory', size: 0 };
    if (stats.isSymbolicLink()) return { ...common, type: 'symlink', size: 0, linkname: symlinkTarget ?? '' };
    if (stats.isFIFO()) return { ...common, type: 'fifo', size: 0 };
    if (stats.isCharacterDevice()) return { ...common, type: 'character-device', size: 0, ...deviceNumbers(stats.rdev) };
    if (stats.isBlockDevice()) return { ...common, type: 'block-device', size: 0, ...deviceNumbers(stats.rdev) };
    throw new UserError(`aci: "${path}" is a socket, which an image cannot hold`);
  }
}
