import { close, constants, open, read } from 'node:fs';
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

/** The whole content of a small file, checked to be exactly `size` bytes. */
export async function readSmallFile(abs: string, path: string, size: number): Promise<Buffer> {
  const fd = await openAsync(abs, OPEN_FLAGS);
  try {
    // One byte more than expected tells a grown file from an unchanged one in the same read.
    const buf = Buffer.allocUnsafe(size + 1);
    const got = await readFully(fd, buf, 0);
    if (got !== size) throw changed(path);
    return buf.subarray(0, size);
  } finally {
    await closeAsync(fd);
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

async function readFully(fd: number, buf: Buffer, position: number): Promise<number> {
  let got = 0;
  while (got < buf.length) {
    const { bytesRead: n } = await readAsync(fd, buf, got, buf.length - got, position + got);
    if (n === 0) break;
    got += n;
  }
  return got;
}

function changed(path: string): UserError {
  return new UserError(`aci: "${path}" changed while it was being packed`);
}
