import { lstatSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { UserError } from '../util/errors.ts';
import type { AciEntry } from './aci-entry.ts';
import { deviceNumbers } from './device-number.ts';
import { readLargeFile, readSmallFileInto } from './file-body.ts';
import { checkLayoutTop } from './layout.ts';
import { END_OF_ARCHIVE, encodeTarHeader, paddingAfter } from './tar-header.ts';
import { walkTree, type EntryStats, type WalkedPath } from './tree-walk.ts';

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

// Small files are read synchronously straight into the chunk being built: for a tree
// of many small files, a promise and thread-pool round trip per open/read/close cost
// several times more than the reads. Each chunk is handed downstream once full, so the
// event loop (compression workers, the output file) runs between chunks.
const SMALL_FILE = 256 * 1024;
const CHUNK = 1024 * 1024;

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
  return Readable.from(tarChunks(layoutDir, opts), { objectMode: false, highWaterMark: CHUNK });
}

async function* tarChunks(layoutDir: string, opts: PackOptions): AsyncGenerator<Buffer> {
  const chunk = new ChunkBuilder();
  for (const { entry, abs, content } of await planArchive(layoutDir, opts)) {
    const header = encodeTarHeader(entry);
    const body = entry.type === 'file' ? entry.size : 0;
    if (content || abs === undefined || body <= SMALL_FILE) {
      // Room for one byte past the body: readSmallFileInto reads it to catch a grown file.
      const full = chunk.reserve(header.length + body + Math.max(paddingAfter(body), 1));
      if (full) yield full;
      chunk.append(header);
      if (content) content.copy(chunk.buf, chunk.used);
      else if (body > 0) readSmallFileInto(abs!, entry.path, body, chunk.buf, chunk.used);
      chunk.used += body;
    } else {
      const full = chunk.reserve(header.length);
      if (full) yield full;
      chunk.append(header);
      yield chunk.take();
      yield* readLargeFile(abs, entry.path, body);
    }
    chunk.buf.fill(0, chunk.used, chunk.used + paddingAfter(body));
    chunk.used += paddingAfter(body);
  }
  const full = chunk.reserve(END_OF_ARCHIVE.length);
  if (full) yield full;
  chunk.append(END_OF_ARCHIVE);
  yield chunk.take();
}

/** The chunk being filled. Chunks handed out are never written to again. */
class ChunkBuilder {
  buf = Buffer.allocUnsafe(CHUNK);
  used = 0;

  /** Makes room for `n` more bytes; returns the filled part first if it must go out. */
  reserve(n: number): Buffer | undefined {
    if (this.used + n <= this.buf.length) return undefined;
    const full = this.used > 0 ? this.buf.subarray(0, this.used) : undefined;
    this.buf = Buffer.allocUnsafe(Math.max(CHUNK, n));
    this.used = 0;
    return full;
  }

  append(bytes: Buffer): void {
    bytes.copy(this.buf, this.used);
    this.used += bytes.length;
  }

  take(): Buffer {
    const full = this.buf.subarray(0, this.used);
    this.buf = Buffer.allocUnsafe(CHUNK);
    this.used = 0;
    return full;
  }
}

async function planArchive(layoutDir: string, opts: PackOptions): Promise<Planned[]> {
  await checkLayoutTop(layoutDir, { manifest: opts.manifestBytes === undefined });
  const rootfs = walkTree(join(layoutDir, 'rootfs'), 'rootfs');
  const described = new Describer(opts);
  const manifest: Planned = opts.manifestBytes
    ? {
        entry: { ...described.common('manifest', rootfs[0]!.stats), mode: 0o644, type: 'file', size: opts.manifestBytes.length },
        content: opts.manifestBytes,
      }
    : manifestFromFile(join(layoutDir, 'manifest'), described);
  const firstPathOf = new Map<string, string>();
  const planned = rootfs.map((w) => {
    const { target, inode } = linkFacts(w);
    const first = inode === undefined ? undefined : firstPathOf.get(inode);
    if (inode !== undefined && first === undefined) firstPathOf.set(inode, w.path);
    const entry: AciEntry =
      first === undefined ? described.entry(w, target) : { ...described.common(w.path, w.stats), type: 'link', size: 0, linkname: first };
    return { entry, abs: w.abs };
  });
  return [manifest, ...planned];
}

function manifestFromFile(abs: string, described: Describer): Planned {
  const stats = lstatSync(abs);
  return { entry: described.entry({ path: 'manifest', abs, stats }, undefined), abs };
}

/** A symlink's target, and for a file with several names, an exact device and inode key. */
function linkFacts(w: WalkedPath): { target?: string; inode?: string } {
  if (w.stats.isSymbolicLink()) return { target: readlinkSync(w.abs) };
  if (w.stats.isDirectory() || w.stats.nlink < 2) return {};
  // Inode numbers can exceed 2^53; bigint stats keep two files from sharing a key.
  const exact = lstatSync(w.abs, { bigint: true });
  return { inode: `${exact.dev}:${exact.ino}` };
}

/** Turns stats into entry metadata under the packing options. */
class Describer {
  readonly #opts: PackOptions;

  constructor(opts: PackOptions) {
    this.#opts = opts;
  }

  common(path: string, stats: EntryStats): Pick<AciEntry, 'path' | 'mode' | 'uid' | 'gid' | 'mtime'> {
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
