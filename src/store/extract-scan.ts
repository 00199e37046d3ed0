import type { Readable } from 'node:stream';
import type { AciEntry } from '../appc/aci-entry.ts';
import { readAci } from '../appc/aci-reader.ts';
import type { RenderEntry, RenderPlan } from '../appc/render.ts';
import { normalizeEntryPath } from '../appc/tar-path.ts';
import type { EntryMeta } from './extract-entry.ts';

// Pass 1 of extraction: what each layer holds, without its contents, for planRender,
// and the metadata of its directories, which are made before pass 2 and given their
// own modes only at the end.

export interface ScannedLayer {
  imageId: string;
  manifestBytes: Buffer;
  /** Entries below rootfs, rootfs-relative, for planRender. */
  entries: RenderEntry[];
  /** rootfs-relative directory path -> its metadata. */
  dirs: Map<string, EntryMeta>;
  /** The rootfs directory's own metadata. */
  root: EntryMeta;
}

// Parents of listed files that no layer provides: as planRender documents.
const IMPLICIT_DIR: EntryMeta = { mode: 0o755, uid: 0, gid: 0 };

export async function scanLayer(source: Readable): Promise<ScannedLayer> {
  const contents = await readAci(source);
  const entries: RenderEntry[] = [];
  const dirs = new Map<string, EntryMeta>();
  let root: EntryMeta | undefined;
  for (const entry of contents.entries) {
    if (entry.path === 'rootfs') root = metaOf(entry);
    const rel = rootfsPath(entry.path);
    if (rel === undefined) continue;
    // readAci has checked that a hard link points inside rootfs.
    const linkname = entry.type === 'link' ? rootfsPath(normalizeEntryPath(entry.linkname ?? '')) : undefined;
    entries.push({ path: rel, type: entry.type, linkname });
    if (entry.type === 'directory') dirs.set(rel, metaOf(entry));
  }
  // readAci refuses an archive without a rootfs directory.
  return { imageId: contents.imageId, manifestBytes: contents.manifestBytes, entries, dirs, root: root! };
}

/** Every directory of the rendered rootfs with the metadata it ends with, parents first. */
export function plannedDirectories(plan: RenderPlan, layers: ScannedLayer[]): [string, EntryMeta][] {
  const dirs: [string, EntryMeta][] = plan.entries
    .filter((e) => e.type === 'directory')
    .map((e) => [e.path, layers[e.layer]!.dirs.get(e.source)!]);
  for (const path of plan.implicitDirs) dirs.push([path, IMPLICIT_DIR]);
  // Code-unit order puts every directory before everything beneath it.
  return dirs.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

/** "rootfs/usr/bin" -> "usr/bin"; undefined for the manifest and rootfs itself. */
export function rootfsPath(archivePath: string): string | undefined {
  return archivePath.startsWith('rootfs/') ? archivePath.slice('rootfs/'.length) : undefined;
}

export function metaOf(entry: AciEntry): EntryMeta {
  return { mode: entry.mode, uid: entry.uid, gid: entry.gid, mtime: entry.mtime };
}
