import { constants, promises as fsp } from 'node:fs';
import { dirname } from 'node:path';
import type { Readable } from 'node:stream';
import { parseImageManifest } from '../appc/image-manifest.ts';
import { isImageId } from '../appc/image-id.ts';
import type { ImageManifest } from '../appc/types.ts';
import { lockFile } from '../sys/flock.ts';
import { syncDirectory } from '../util/atomic-file.ts';
import { resolveLayers } from './dependencies.ts';
import { storeWriteError } from './disk-errors.ts';
import { collectGarbage, type GcOptions } from './gc.ts';
import { ImageNotStoredError, removeImage } from './image-remove.ts';
import { listRecords, readRecord, updateRecord } from './index-db.ts';
import { StorePaths } from './layout.ts';
import { renderLayers } from './render-tree.ts';
import { matchByName, resolveId } from './resolve.ts';
import { tempDir, type TempEntry } from './temp.ts';
import type { GcReport, ImageRecord, RemoteInfo, VerifyReport } from './types.ts';

export { ImageNotStoredError } from './image-remove.ts';
export type { InUse, GcOptions } from './gc.ts';
export type { TempEntry } from './temp.ts';

/**
 * The image store of one rkt data directory (see layout.ts for what is on disk and
 * how it stays consistent). Any number of rkt processes may use one store at once.
 * Writing and verifying images import the ACI reader and its decompressors on first
 * use: running a stored image needs neither.
 */
export class Store {
  readonly paths: StorePaths;
  /** Images this store marked used: one command marks each once (fetch and render both would). */
  readonly #marked = new Set<string>();

  private constructor(paths: StorePaths) {
    this.paths = paths;
  }

  /** Opens the store under `dir`, creating its directories. */
  static async open(dir: string): Promise<Store> {
    const paths = new StorePaths(dir);
    try {
      for (const d of paths.directories) {
        // A directory entry is durable only once its parent is synced.
        if (await fsp.mkdir(d, { recursive: true, mode: 0o755 })) await syncDirectory(dirname(d));
      }
      await fsp.access(paths.root, constants.W_OK);
    } catch (err) {
      throw storeWriteError(err, 'cannot open the store', dir);
    }
    return new Store(paths);
  }

  /**
   * Stores an ACI (plain, gzip, bzip2 or xz); an image already stored is kept once, its remote info updated.
   * `signature` is the detached signature the caller verified the ACI with, kept for export-bundle.
   */
  async writeAci(source: Readable, opts: { remote?: RemoteInfo; signature?: Uint8Array } = {}): Promise<ImageRecord> {
    const { writeImage } = await import('./image-write.ts');
    return writeImage(this.paths, source, opts.remote, opts.signature);
  }

  /** The detached signature the image was fetched with, if it was fetched signed. */
  async signature(id: string): Promise<Buffer | undefined> {
    if (!isImageId(id)) return undefined;
    return fsp.readFile(this.paths.signature(id)).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return undefined;
      throw err;
    });
  }

  /** The full ID from a unique prefix of at least "sha512-" and 2 hex digits. */
  resolveId(idOrPrefix: string): Promise<string> {
    return resolveId(this.paths, idOrPrefix);
  }

  async get(id: string): Promise<ImageRecord | undefined> {
    return isImageId(id) ? readRecord(this.paths, id) : undefined;
  }

  /** Every image, oldest import first. */
  async list(): Promise<ImageRecord[]> {
    return (await listRecords(this.paths)).sort((a, b) => (a.importedAt < b.importedAt ? -1 : a.importedAt > b.importedAt ? 1 : 0));
  }

  /** Images of `name` carrying every given label, newest import first. */
  async findByName(name: string, labels: Record<string, string> = {}): Promise<ImageRecord[]> {
    return matchByName(await listRecords(this.paths), name, labels);
  }

  async manifest(id: string): Promise<ImageManifest> {
    const bytes = await fsp.readFile(this.paths.manifest(id)).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') throw new ImageNotStoredError(id);
      throw err;
    });
    return parseImageManifest(bytes);
  }

  /** The uncompressed tar. The image cannot be removed until the stream closes. */
  async openBlob(id: string): Promise<Readable> {
    const lock = await lockFile(this.paths.imageLock(id), 'shared');
    try {
      if (!(await readRecord(this.paths, id))) throw new ImageNotStoredError(id);
      const stream = (await fsp.open(this.blobPath(id))).createReadStream();
      stream.once('close', () => lock.release());
      return stream;
    } catch (err) {
      lock.release();
      throw err;
    }
  }

  blobPath(id: string): string {
    return this.paths.blob(id);
  }

  /** Removes the image, its manifest and record, and every tree rendered from it. */
  remove(id: string): Promise<void> {
    return removeImage(this.paths, id);
  }

  /** Sets the image's last use to now, for image gc: a hint, which a power cut may undo. */
  async markUsed(id: string): Promise<void> {
    if (this.#marked.has(id)) return;
    const lastUsedAt = new Date().toISOString();
    if (!(await updateRecord(this.paths, id, (r) => ({ ...r, lastUsedAt }), { durable: false }))) throw new ImageNotStoredError(id);
    this.#marked.add(id);
  }

  async updateRemote(id: string, remote: RemoteInfo): Promise<void> {
    if (!(await updateRecord(this.paths, id, (r) => ({ ...r, remote })))) throw new ImageNotStoredError(id);
  }

  /** The image rendered with its dependencies, rendered now unless a complete tree exists. */
  async renderTree(id: string): Promise<{ treeId: string; path: string }> {
    const layers = await resolveLayers(this, id);
    const tree = await renderLayers(this.paths, layers);
    // Each image of the tree counts as used, so gc keeps a base its apps still need. One
    // removed since the render is simply not marked: the tree went with it.
    for (const layerId of new Set(layers.map((l) => l.id))) {
      await this.markUsed(layerId).catch((err: unknown) => {
        if (!(err instanceof ImageNotStoredError)) throw err;
      });
    }
    return tree;
  }

  /**
   * A new directory in the store's tmp/ (`<kind>-<pid>-<random>`), on the store's
   * filesystem and locked as ours until committed or discarded: if we are killed, gc
   * removes it and verify counts it as a leftover.
   */
  tempDir(kind: string): Promise<TempEntry> {
    return tempDir(this.paths, kind);
  }

  async verify(opts: { repair?: boolean } = {}): Promise<VerifyReport> {
    const { verifyStore } = await import('./verify.ts');
    return verifyStore(this.paths, opts.repair ?? false);
  }

  gc(opts: GcOptions = {}): Promise<GcReport> {
    return collectGarbage(this.paths, opts);
  }
}
