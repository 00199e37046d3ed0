import { Readable } from 'node:stream';
import Bunzip from 'seek-bzip';

// seek-bzip decodes synchronously from a byte source, while compressed bytes arrive
// asynchronously. Before each block we queue at least LOOKAHEAD compressed bytes (a
// bzip2 block of 900 kB never compresses to more than about 1 MB), so memory holds
// one block, not the whole archive. The block loop mirrors seek-bzip's own decode().
const LOOKAHEAD = 2 * 1024 * 1024;
const OUT_CHUNK = 64 * 1024;

class InputQueue {
  #chunks: Buffer[] = [];
  #offset = 0;
  queued = 0;
  ended = false;

  push(chunk: Buffer): void {
    this.#chunks.push(chunk);
    this.queued += chunk.length;
  }

  readByte(): number {
    const chunk = this.#chunks[0];
    if (chunk === undefined) return -1;
    const byte = chunk[this.#offset++]!;
    this.queued--;
    if (this.#offset === chunk.length) {
      this.#chunks.shift();
      this.#offset = 0;
    }
    return byte;
  }

  read(buffer: Uint8Array, offset: number, length: number): number {
    let n = 0;
    while (n < length && this.queued > 0) buffer[offset + n++] = this.readByte();
    return n === 0 ? -1 : n;
  }

  eof(): boolean {
    return this.ended && this.queued === 0;
  }
}

class OutputChunks {
  #buf = Buffer.allocUnsafe(OUT_CHUNK);
  #pos = 0;
  #full: Buffer[] = [];

  writeByte(byte: number): void {
    this.#buf[this.#pos++] = byte;
    if (this.#pos === OUT_CHUNK) {
      this.#full.push(this.#buf);
      this.#buf = Buffer.allocUnsafe(OUT_CHUNK);
      this.#pos = 0;
    }
  }

  take(): Buffer[] {
    const out = this.#full;
    if (this.#pos > 0) out.push(Buffer.from(this.#buf.subarray(0, this.#pos)));
    this.#full = [];
    this.#pos = 0;
    return out;
  }
}

/** The decompressed bytes of a (possibly multi-stream) bzip2 source. */
export function bunzip2(source: AsyncIterable<Buffer>): Readable {
  return Readable.from(decodeBlocks(source[Symbol.asyncIterator]()), { objectMode: false });
}

async function* decodeBlocks(compressed: AsyncIterator<Buffer>): AsyncGenerator<Buffer> {
  const input = new InputQueue();
  const output = new OutputChunks();
  const fill = async (): Promise<void> => {
    while (!input.ended && input.queued < LOOKAHEAD) {
      const next = await compressed.next();
      if (next.done) input.ended = true;
      else input.push(next.value);
    }
  };
  try {
    await fill();
    const bz = new Bunzip(input, output);
    for (;;) {
      await fill();
      if (input.eof()) throw new Error('unexpected end of data');
      if (bz._init_block()) {
        bz._read_bunzip();
        yield* output.take();
        continue;
      }
      const streamCrc = bz.reader.read(32) >>> 0;
      if (streamCrc !== bz.streamCRC) throw new Error('bad stream checksum');
      await fill();
      if (input.eof()) return;
      bz._start_bunzip(input, output);
    }
  } finally {
    await compressed.return?.();
  }
}
