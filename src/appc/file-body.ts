import { close, closeSync, constants, open, openSync, read, readSync } from 'node:fs';
import { promisify } from 'node:util';
import { UserError } from '../util/errors.ts';

// Reading file contents for the tar writer. Opens refuse symlinks (O_NOFOLLOW) and
// never block on a FIFO planted after the walk (O_NONBLOCK); a file whose size
// differs from what its header says is an error, since the tar would be corrupt.

const openAsync = promisify(open);
const readAsync = promisify(read);
const closeAsync = promisify(close);

const OPEN_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;
const CHUNK = 1024 * 1024;

/**
 * Reads a small file of `size` bytes into `target` at `offset`, which must have
 * room for size + 1 bytes: the extra byte tells a grown file in the same read.
 * Synchronous, since for small files the thread-pool round trips cost more than the reads.
 */
export function readSmallFileInto(abs: string, path: string, size: number, target: Buffer, offset: number): void {
  const fd = openSync(abs, OPEN_FLAGS);
  try {
    let got = 0;
    while (got <= size) {
      const n = readSync(fd, target, offset + got, size + 1 - got, got);
      if (n === 0) break;
      got += n;
    }
    if (got !== size) throw changed(path);
  } finally {
    closeSync(fd);
  }
}

/** The content of a large file in fresh chunks of at most 1 MiB. */
export async function* readLargeFile(abs: string, path: string, size: number): AsyncGenerator<Buffer> {
  const fd = await openAsync(abs, OPEN_FLAGS);
  try {
    for (let position = 0; position < size; ) {
      const buf = Buffer.allocUnsafe(Math.min(CHUNK, size - position));
      const got = await readFully(fd, buf, position);
      if (got !== buf.length) throw changed(path);
      position += got;
      yield buf;
    }
    if ((await readAsync(fd, Buffer.alloc(1), 0, 1, size)).bytesRead > 0) throw changed(path);
  } finally {
    await closeAsync(fd);
  }
}

/**
 * Reads `size` bytes at `position` of an open spool file into `target` at `offset`.
 * The spool is the caller's own file, so only a short read can go wrong.
 */
export function readSmallSpanInto(fd: number, position: number, path: string, size: number, target: Buffer, offset: number): void {
  let got = 0;
  while (got < size) {
    const n = readSync(fd, target, offset + got, size - got, position + got);
    if (n === 0) throw changed(path);
    got += n;
  }
}

/** `size` bytes at `position` of an open spool file, in fresh chunks of at most 1 MiB. */
export async function* readLargeSpan(fd: number, position: number, path: string, size: number): AsyncGenerator<Buffer> {
  for (let done = 0; done < size; ) {
    const buf = Buffer.allocUnsafe(Math.min(CHUNK, size - done));
    if ((await readFully(fd, buf, position + done)) !== buf.length) throw changed(path);
    done += buf.length;
    yield buf;
  }
}

async function readFully(fd: number, buf: Buffer, position: number): Promise<number> {
  let got = 0;
  while (got < buf.length) {
    const { bytesRead } = await readAsync(fd, buf, got, buf.length - got, position + got);
    if (bytesRead === 0) break;
    got += bytesRead;
  }
  return got;
}

function changed(path: string): UserError {
  return new UserError(`aci: "${path}" changed while it was being packed`);
}
