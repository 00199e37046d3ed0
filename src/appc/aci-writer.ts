import { lstatSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { UserError } from '../util/errors.ts';
import type { AciEntry } from './aci-entry.ts';
import { deviceNumbers } from './device-number.ts';
import { checkLayoutTop } from './layout.ts';
import { tarStream, type TarMember } from './tar-writer.ts';
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

/**
 * The uncompressed tar of an image layout: `manifest` then `rootfs/**`, sorted
 * bytewise, the same bytes for the same tree and options. Symlinks are stored,
 * never followed; hard links within rootfs become link entries.
 */
export function packAci(layoutDir: string, opts: PackOptions = {}): Readable {
  return tarStream(() => planArchive(layoutDir, opts));
}

async function planArchive(layoutDir: string, opts: PackOptions): Promise<TarMember[]> {
  await checkLayoutTop(layoutDir, { manifest: opts.manifestBytes === undefined });
  const rootfs = walkTree(join(layoutDir, 'rootfs'), 'rootfs');
  const described = new Describer(opts);
  const manifest: TarMember = opts.manifestBytes
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

function manifestFromFile(abs: string, described: Describer): TarMember {
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
