import { PassThrough, Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { UserError, describeError } from '../util/errors.ts';
import { bunzip2 } from './bzip2-stream.ts';
import { xzDecompressed } from './xz-pool.ts';

/** The compressions an image archive may use (appc aci.md, "Image Archives"). */
export type Compression = 'gzip' | 'bzip2' | 'xz' | 'none';

const XZ_MAGIC = [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00];
const HEAD_BYTES = XZ_MAGIC.length;

export function sniffCompression(head: Uint8Array): Compression {
  if (head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  // "BZh" and a block size digit 1-9.
  if (head[0] === 0x42 && head[1] === 0x5a && head[2] === 0x68 && head[3]! >= 0x31 && head[3]! <= 0x39) return 'bzip2';
  if (XZ_MAGIC.every((b, i) => head[i] === b)) return 'xz';
  return 'none';
}

const GUNZIP_CHUNK = 256 * 1024;

/** `source`, decompressed according to its first bytes. */
export async function decompressed(source: Readable): Promise<Readable> {
  const { head, whole } = await peek(source, HEAD_BYTES);
  const compression = sniffCompression(head);
  switch (compression) {
    case 'none':
      return whole;
    case 'gzip': {
      // Node's gunzip reads concatenated members, as pigz and `cat a.gz b.gz` make.
      // Its default 16 KiB output chunks cost twice the time of gzip -dc in callbacks;
      // 256 KiB ones match it (bench/fetch.bench.ts).
      const gunzip = createGunzip({ chunkSize: GUNZIP_CHUNK });
      whole.on('error', (err) => gunzip.destroy(err));
      return labelErrors(whole.pipe(gunzip), compression);
    }
    case 'bzip2':
      return labelErrors(bunzip2(whole), compression);
    case 'xz':
      // On a worker thread: several xz streams decode at once, off the main thread.
      return labelErrors(xzDecompressed(whole), compression);
  }
}

/** Read the first `n` bytes of `source`, and give back a stream that still starts with them. */
async function peek(source: Readable, n: number): Promise<{ head: Buffer; whole: Readable }> {
  const chunks = source[Symbol.asyncIterator]();
  const seen: Buffer[] = [];
  let length = 0;
  while (length < n) {
    const next = await chunks.next();
    if (next.done) break;
    const chunk = Buffer.from(next.value as Uint8Array);
    seen.push(chunk);
    length += chunk.length;
  }
  const head = Buffer.concat(seen);
  async function* replay(): AsyncGenerator<Buffer> {
    try {
      if (head.length > 0) yield head;
      for (let next = await chunks.next(); !next.done; next = await chunks.next()) yield next.value as Buffer;
    } finally {
      await chunks.return?.();
    }
  }
  return { head, whole: Readable.from(replay(), { objectMode: false }) };
}

/** Decoder failures become one-line user errors naming the format. */
function labelErrors(decoded: Readable, compression: Compression): Readable {
  const out = new PassThrough();
  decoded.on('error', (err) =>
    out.destroy(err instanceof UserError ? err : new UserError(`invalid ${compression} data: ${describeError(err)}`)),
  );
  out.on('close', () => decoded.destroy());
  return decoded.pipe(out);
}
