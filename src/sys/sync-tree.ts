import { open, opendir } from 'node:fs/promises';
import { join } from 'node:path';
import { errnoError, loadFfi } from './ffi.ts';

// A rendered tree is made durable once, at the end: an fsync per file costs a
// round trip to the SD card for each of 20,000 files, while syncfs(2) on any fd of
// the tree flushes the whole filesystem in one go. syncfs also syncs unrelated dirty
// data of that filesystem; on a board that is cheap next to per-file syncs. Where FFI
// cannot load we fall back to fsyncing every file and directory.

type Syncfs = (fd: number) => number;
let syncfsFn: Syncfs | undefined;

/** Makes everything under `dir` durable: syncfs where FFI loads, else a walk of fsyncs. */
export async function syncTree(dir: string): Promise<void> {
  let koffi;
  try {
    koffi = loadFfi();
  } catch {
    return fsyncTree(dir);
  }
  syncfsFn ??= koffi.load(null).func('int syncfs(int fd)') as Syncfs;
  const handle = await open(dir, 'r');
  try {
    if (syncfsFn(handle.fd) !== 0) throw errnoError('syncfs', dir, koffi.errno());
  } finally {
    await handle.close();
  }
}

/** fsync of every regular file and directory under `dir`, children before their directory. */
export async function fsyncTree(dir: string): Promise<void> {
  for await (const entry of await opendir(dir)) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) await fsyncTree(path);
    else if (entry.isFile()) await fsyncPath(path);
  }
  await fsyncPath(dir);
}

async function fsyncPath(path: string): Promise<void> {
  // O_RDONLY works for files of any mode as root, and for directories, which refuse writing opens.
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
