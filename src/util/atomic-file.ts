import { randomBytes } from 'node:crypto';
import { constants, createWriteStream, promises as fsp } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { Duplex, Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

type AtomicWriteOptions = { mode?: number; syncDir?: boolean };

/**
 * Writes a stream to `path` so that a reader, a crash or a power cut never sees a
 * half-written file: data goes to a temporary name in the same directory, is synced,
 * renamed into place, and the directory entry is synced too (`syncDir: false` leaves
 * that to a later write in the same directory). On failure the temporary file is
 * removed and `path` is untouched. `stages` transform the data on its way; an error in
 * any of them fails the whole write.
 */
export async function writeFileAtomic(path: string, source: Readable, stages: Duplex[] = [], opts: AtomicWriteOptions = {}): Promise<void> {
  await replaceAtomically(path, opts, async (tmp) => {
    // The stream owns the file: it fsyncs it before closing (flush), and on a failure it
    // closes it itself, so no second close can hide the real error behind EBADF.
    const file = createWriteStream(tmp, { flags: 'wx', mode: opts.mode ?? 0o644, flush: true });
    await pipeline([source, ...stages, file]);
  });
}

/** writeFileAtomic for data in memory: no stream to set up, which costs a pod's start a few ms. */
export async function writeDataAtomic(path: string, data: string | Uint8Array, opts: AtomicWriteOptions = {}): Promise<void> {
  await replaceAtomically(path, opts, async (tmp) => {
    const handle = await fsp.open(tmp, 'wx', opts.mode ?? 0o644);
    try {
      await handle.writeFile(data);
      await handle.sync();
    } finally {
      await handle.close();
    }
  });
}

async function replaceAtomically(path: string, opts: AtomicWriteOptions, write: (tmp: string) => Promise<void>): Promise<void> {
  const tmp = temporaryNameFor(path);
  try {
    await write(tmp);
    await fsp.rename(tmp, path);
  } catch (err) {
    await fsp.rm(tmp, { force: true });
    throw err;
  }
  if (opts.syncDir ?? true) await syncDirectory(dirname(path));
}

/** Temporary names start with a dot and carry `.tmp-` so that cleanup can find leftovers. */
export function temporaryNameFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
}

export async function syncDirectory(dir: string): Promise<void> {
  // Directories cannot be opened for fsync on every platform (Windows); where
  // opening fails there is nothing more we can do for durability.
  const handle = await fsp.open(dir, constants.O_RDONLY).catch(() => undefined);
  if (!handle) return;
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
