import { promises as fsp } from 'node:fs';
import { Readable } from 'node:stream';
import { readAci, type AciContents } from '../appc/aci-reader.ts';
import { decompressed } from '../appc/compression.ts';
import { withLock } from '../sys/flock.ts';
import { syncDirectory } from '../util/atomic-file.ts';
import { exists } from '../util/fs.ts';
import { storeWriteError } from './disk-errors.ts';
import { putRecord, readRecord, updateRecord } from './index-db.ts';
import type { StorePaths } from './layout.ts';
import { tempFile, writeStoreFile, type TempEntry } from './temp.ts';
import type { ImageRecord, RemoteInfo } from './types.ts';

/**
 * Stores an ACI (any compression): the uncompressed tar goes to tmp/ while readAci
 * checks it and hashes it, and, unless the image is stored already, is synced and only
 * then renamed into blob/ under the image's exclusive lock, followed by the manifest
 * and, last, the record. Whoever commits first wins; later writers of the same image
 * find the record and drop their copy.
 */
export async function writeImage(paths: StorePaths, source: Readable, remote?: RemoteInfo, signature?: Uint8Array): Promise<ImageRecord> {
  let staged: Staged | undefined;
  try {
    const ready = await stage(paths, source);
    staged = ready;
    return await withLock(paths.imageLock(ready.contents.imageId), 'exclusive', () => commit(paths, ready, remote, signature));
  } catch (err) {
    await staged?.entry.discard();
    throw storeWriteError(err, 'cannot store the image', paths.root);
  } finally {
    await staged?.handle.close();
  }
}

/** The tar in tmp/, still open (not yet synced), and what readAci found in it. */
interface Staged {
  entry: TempEntry;
  handle: fsp.FileHandle;
  contents: AciContents;
  size: number;
}

async function stage(paths: StorePaths, source: Readable): Promise<Staged> {
  const { entry, handle } = await tempFile(paths, 'blob');
  let size = 0;
  // readAci sees exactly the bytes that reach the file, so its image ID is the file's hash.
  async function* toFile(plain: Readable): AsyncGenerator<Buffer> {
    for await (const chunk of plain) {
      await handle.write(chunk as Buffer);
      size += (chunk as Buffer).length;
      yield chunk as Buffer;
    }
  }
  try {
    const contents = await readAci(Readable.from(toFile(await decompressed(source))));
    return { entry, handle, contents, size };
  } catch (err) {
    source.destroy();
    await handle.close();
    await entry.discard();
    throw err;
  }
}

async function commit(paths: StorePaths, staged: Staged, remote?: RemoteInfo, signature?: Uint8Array): Promise<ImageRecord> {
  const { entry, handle, contents, size } = staged;
  const id = contents.imageId;
  const existing = await readRecord(paths, id);
  if (existing && (await exists(paths.blob(id)))) {
    await entry.discard();
    // A signed fetch of an image stored unsigned (or by an older rkt) gives it a signature to export.
    if (signature && !(await exists(paths.signature(id)))) await writeStoreFile(paths, paths.signature(id), signature);
    if (!remote) return existing;
    return (await updateRecord(paths, id, (r) => ({ ...r, remote }))) ?? existing;
  }
  await handle.sync();
  if (await fsp.mkdir(paths.blobShard(id), { recursive: true })) await syncDirectory(paths.blobRoot);
  await entry.commit(paths.blob(id));
  try {
    await writeStoreFile(paths, paths.manifest(id), contents.manifestBytes);
    if (signature) await writeStoreFile(paths, paths.signature(id), signature);
    const now = new Date().toISOString();
    const { name, labels } = contents.manifest;
    const record: ImageRecord = { id, name, labels, importedAt: now, lastUsedAt: now, size, ...(remote ? { remote } : {}) };
    await putRecord(paths, record);
    return record;
  } catch (err) {
    // Without its record the blob is unreachable: take it back rather than leave it to gc.
    await fsp.rm(paths.signature(id), { force: true });
    await fsp.rm(paths.manifest(id), { force: true });
    await fsp.rm(paths.blob(id), { force: true });
    throw err;
  }
}

