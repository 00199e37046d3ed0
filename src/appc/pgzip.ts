import { availableParallelism } from 'node:os';
import { Transform, type TransformCallback } from 'node:stream';
import { crc32, deflateRawSync } from 'node:zlib';
import { DeflatePool } from './deflate-pool.ts';

/** Deflate's window: each block is primed with this much of the input before it. */
const WINDOW = 32 * 1024;

export const DEFAULT_BLOCK_SIZE = 128 * 1024;

// Fixed header, so an ACI's bytes depend on its content only: no mtime, no name, XFL 0,
// and OS 3 (Unix) whatever the host. zlib itself writes 3 on Linux but 19 on macOS; 3
// is also what gzip and pigz write here, and it is true of the payload: an ACI is a tar
// of a Unix file tree wherever it was built.
const GZIP_HEADER = Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3]);

export interface ParallelGzipOptions {
  /** zlib level 0-9, default 6 (gzip's). */
  level?: number;
  /** Bytes of input per independently compressed block, at least 32 KiB. */
  blockSize?: number;
  /** Worker threads; default min(cpus, 4). Does not change the output bytes. */
  workers?: number;
  /**
   * Compress on this pool instead of starting one: several streams at once (the arches
   * of `actool cross`) then share its threads. Its level is the stream's (`level` must
   * match if given), its size stands for `workers`; the stream never closes it.
   */
  pool?: DeflatePool;
}

/**
 * gzip the way pigz does: the input is cut into fixed-size blocks, each deflated on a
 * worker thread with the previous 32 KiB as dictionary and ended byte-aligned, and the
 * pieces joined into one gzip member. Block boundaries depend only on the input, so the
 * output is the same bytes for any worker count and any chunking of the input.
 */
export function parallelGzip(opts: ParallelGzipOptions = {}): Transform {
  const { pool } = opts;
  const level = opts.level ?? pool?.level ?? 6;
  const blockSize = opts.blockSize ?? DEFAULT_BLOCK_SIZE;
  const workers = pool?.size ?? opts.workers ?? Math.min(availableParallelism(), 4);
  requireInteger('level', level, 0, 9);
  requireInteger('blockSize', blockSize, WINDOW, 2 ** 30);
  requireInteger('workers', workers, 1, 256);
  if (pool && pool.level !== level) throw new RangeError(`parallelGzip: level ${level} differs from the pool's (${pool.level})`);
  return new ParallelGzip(level, blockSize, workers, pool ?? null);
}

function requireInteger(name: string, value: number, min: number, max: number): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(`parallelGzip: ${name} must be an integer from ${min} to ${max}, got ${value}`);
  }
}

class ParallelGzip extends Transform {
  readonly #level: number;
  readonly #blockSize: number;
  readonly #workers: number;
  // Two blocks per worker: one being compressed, one queued, so no worker waits on us.
  readonly #maxInFlight: number;
  #pool: DeflatePool | null = null;
  /** A pool from the caller: shared with other streams, so never closed here. */
  readonly #shared: DeflatePool | null;
  #started = false;

  // The block being filled, at WINDOW in its buffer: the WINDOW bytes in front hold the
  // end of the previous block, its dictionary. A full block is held back until more input
  // arrives, so the final block (Z_FINISH) is never empty and block boundaries never
  // depend on chunking.
  #buffer: Buffer;
  #fill = 0;
  #primed = false;
  // Buffers the workers handed back. Reusing them keeps the memory of a stream of any
  // length to maxInFlight + 1 buffers, where fresh ones left a garbage pile in each thread.
  readonly #spare: Buffer[] = [];
  #crc = 0;
  #size = 0;

  /** Compressed blocks in input order; a slot's `out` is set when its worker answers. */
  readonly #inFlight: { out: Buffer | null }[] = [];
  #input: Buffer | null = null;
  #offset = 0;
  #resume: TransformCallback | null = null;
  #flushed: TransformCallback | null = null;

  constructor(level: number, blockSize: number, workers: number, shared: DeflatePool | null) {
    super();
    this.#shared = shared;
    this.#level = level;
    this.#blockSize = blockSize;
    this.#workers = workers;
    this.#maxInFlight = 2 * workers;
    this.#buffer = this.#newBuffer();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.#input = chunk;
    this.#offset = 0;
    this.#resume = callback;
    this.#pump();
  }

  override _flush(callback: TransformCallback): void {
    if (!this.#started) {
      // Input smaller than one block: starting threads would cost more than it saves.
      const last = this.#block();
      this.#crc = crc32(last, this.#crc);
      this.#size += last.length;
      callback(null, Buffer.concat([GZIP_HEADER, deflateRawSync(last, { level: this.#level }), this.#trailer()]));
      return;
    }
    this.#flushed = callback;
    this.#dispatch(true);
  }

  override _destroy(err: Error | null, callback: (error?: Error | null) => void): void {
    this.#closePool();
    callback(err);
  }

  /** Copy input into blocks, dispatching full ones while there is room in flight. */
  #pump(): void {
    const input = this.#input;
    if (!input) return;
    while (this.#offset < input.length) {
      if (this.#fill === this.#blockSize) {
        if (this.#inFlight.length >= this.#maxInFlight) return; // #drain resumes us
        this.#dispatch(false);
      }
      const n = input.copy(this.#buffer, WINDOW + this.#fill, this.#offset);
      this.#fill += n;
      this.#offset += n;
    }
    const resume = this.#resume;
    this.#input = null;
    this.#resume = null;
    resume?.();
  }

  #dispatch(last: boolean): void {
    if (!this.#started) {
      this.#started = true;
      this.#pool = this.#shared ?? new DeflatePool(this.#workers, this.#level);
      this.push(GZIP_HEADER);
    }
    const block = this.#block();
    this.#crc = crc32(block, this.#crc);
    this.#size += block.length;
    const dictionary = this.#primed ? this.#buffer.subarray(0, WINDOW) : null;
    if (!last) {
      // The pool transfers the buffer to the worker, so the next block starts in another.
      this.#buffer = this.#spare.pop() ?? this.#newBuffer();
      block.copy(this.#buffer, 0, block.length - WINDOW);
      this.#primed = true;
      this.#fill = 0;
    }
    const slot: { out: Buffer | null } = { out: null };
    this.#inFlight.push(slot);
    try {
      this.#pool!.deflate({ block, dictionary, last }, (err, out, returned) => {
        if (this.destroyed) return;
        if (err) {
          this.destroy(err);
          return;
        }
        if (returned) this.#spare.push(Buffer.from(returned.buffer));
        slot.out = out ?? null;
        this.#drain();
      });
    } catch (err) {
      // A shared pool closed by another stream's failure.
      this.destroy(err as Error);
    }
  }

  #closePool(): void {
    if (this.#pool !== this.#shared) this.#pool?.close();
  }

  #block(): Buffer {
    return this.#buffer.subarray(WINDOW, WINDOW + this.#fill);
  }

  #newBuffer(): Buffer {
    // Slow: a pooled Buffer shares its ArrayBuffer, which cannot be transferred.
    return Buffer.allocUnsafeSlow(WINDOW + this.#blockSize);
  }

  /** Emit finished blocks in order, then let more input in or finish the member. */
  #drain(): void {
    while (this.#inFlight[0]?.out) this.push(this.#inFlight.shift()!.out);
    if (this.#inFlight.length < this.#maxInFlight) this.#pump();
    if (this.#flushed && this.#inFlight.length === 0) {
      const callback = this.#flushed;
      this.#flushed = null;
      this.#closePool();
      callback(null, this.#trailer());
    }
  }

  #trailer(): Buffer {
    const trailer = Buffer.alloc(8);
    trailer.writeUInt32LE(this.#crc, 0);
    trailer.writeUInt32LE(this.#size % 2 ** 32, 4);
    return trailer;
  }
}
