import { Readable } from 'node:stream';
import type { AciEntry } from './aci-entry.ts';
import { readLargeFile, readLargeSpan, readSmallFileInto, readSmallSpanInto } from './file-body.ts';
import { END_OF_ARCHIVE, encodeTarHeader, paddingAfter } from './tar-header.ts';

// The tar writer behind `actool build` and `actool cross`: members in the order given,
// ustar headers from encodeTarHeader, bodies read only as the tar is consumed.

/** One member of the archive and, for a regular file, where its body comes from. */
export interface TarMember {
  entry: AciEntry;
  /** A file on disk holding exactly the body. */
  abs?: string;
  /** The body itself. */
  content?: Buffer;
  /** The body as a span of an open spool file, starting at `position`. */
  span?: { fd: number; position: number };
}

// Small bodies are read synchronously straight into the chunk being built: for a tree
// of many small files, a promise and thread-pool round trip per open/read/close cost
// several times more than the reads. Each chunk is handed downstream once full, so the
// event loop (compression workers, the output file) runs between chunks.
const SMALL_FILE = 256 * 1024;
const CHUNK = 1024 * 1024;

/** The uncompressed tar of `members` (planned lazily, when the stream is first read). */
export function tarStream(members: () => Promise<Iterable<TarMember>>): Readable {
  return Readable.from(tarChunks(members), { objectMode: false, highWaterMark: CHUNK });
}

async function* tarChunks(plan: () => Promise<Iterable<TarMember>>): AsyncGenerator<Buffer> {
  const chunk = new ChunkBuilder();
  for (const member of await plan()) {
    const { entry, content } = member;
    const header = encodeTarHeader(entry);
    const body = entry.type === 'file' ? entry.size : 0;
    if (content || body <= SMALL_FILE) {
      // Room for one byte past the body: readSmallFileInto reads it to catch a grown file.
      const full = chunk.reserve(header.length + body + Math.max(paddingAfter(body), 1));
      if (full) yield full;
      chunk.append(header);
      if (content) content.copy(chunk.buf, chunk.used);
      else if (body > 0) readSmallInto(member, body, chunk.buf, chunk.used);
      chunk.used += body;
    } else {
      const full = chunk.reserve(header.length);
      if (full) yield full;
      chunk.append(header);
      yield chunk.take();
      yield* readLarge(member, body);
    }
    chunk.buf.fill(0, chunk.used, chunk.used + paddingAfter(body));
    chunk.used += paddingAfter(body);
  }
  const full = chunk.reserve(END_OF_ARCHIVE.length);
  if (full) yield full;
  chunk.append(END_OF_ARCHIVE);
  yield chunk.take();
}

function readSmallInto({ entry, abs, span }: TarMember, size: number, target: Buffer, offset: number): void {
  if (span) readSmallSpanInto(span.fd, span.position, entry.path, size, target, offset);
  else readSmallFileInto(bodySource(entry, abs), entry.path, size, target, offset);
}

function readLarge({ entry, abs, span }: TarMember, size: number): AsyncGenerator<Buffer> {
  if (span) return readLargeSpan(span.fd, span.position, entry.path, size);
  return readLargeFile(bodySource(entry, abs), entry.path, size);
}

function bodySource(entry: AciEntry, abs: string | undefined): string {
  if (abs === undefined) throw new Error(`tar: no body given for "${entry.path}"`);
  return abs;
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
