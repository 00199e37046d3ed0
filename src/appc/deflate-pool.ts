import { EvalWorker } from './eval-worker.ts';

/** One block of a pigz-style stream: raw deflate primed with the previous 32 KiB of input. */
export interface DeflateJob {
  block: Buffer;
  /** The 32 KiB of input before `block`, or null for the first block. */
  dictionary: Buffer | null;
  /** The last block ends the deflate stream (Z_FINISH); others end byte-aligned (Z_SYNC_FLUSH). */
  last: boolean;
}

/** `block` is the job's block handed back (same memory), so the caller can reuse its buffer. */
export type DeflateCallback = (err: Error | null, out?: Buffer, block?: Buffer) => void;

// The worker's code (an EvalWorker).
// Memory: a thread's dead ArrayBuffers are collected only once 32 MB of them pile up (on
// 64-bit; twice V8's default semi-space, which resourceLimits do not change), so each
// buffer a worker allocates and drops costs up to that much RSS per worker. Here a worker
// drops none: the block's buffer goes back for reuse, and the output, its one allocation
// per block, is transferred to the caller. chunkSize is above deflate's worst case for the
// block (zlib's deflateBound plus the flush), so the output is never split into chunks
// joined by a copy. An output under 4 KiB may be a slice of the thread's shared Buffer
// pool, which must not be transferred away. Measured with bench/pgzip-filter.ts and two
// workers: 176 MB peak RSS before, 132 MB after; the idle pool is 56 MB.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { deflateRawSync, constants } = require('node:zlib');
parentPort.on('message', ({ id, block, dictionary, last }) => {
  const options = {
    level: workerData.level,
    finishFlush: last ? constants.Z_FINISH : constants.Z_SYNC_FLUSH,
    chunkSize: block.length + (block.length >> 10) + 64,
  };
  if (dictionary) options.dictionary = dictionary;
  let out = deflateRawSync(block, options);
  if (out.length < 4096) out = new Uint8Array(out);
  parentPort.postMessage({ id, out, block }, [out.buffer, block.buffer]);
});
`;

interface Reply {
  id: number;
  out: Uint8Array;
  block: Uint8Array;
}

/**
 * Up to `size` deflate worker threads, each holding the process open only while it has
 * blocks to compress; close() ends them all. A thread starts when a block finds every
 * running one busy (~35 ms of CPU on x86, far more on a Pi), so a pool shared by several
 * streams (the arches of `actool cross`) starts only as many as the work keeps busy.
 */
export class DeflatePool {
  /** The most threads the pool runs. */
  readonly size: number;
  /** The zlib level every block is compressed at. */
  readonly level: number;
  readonly #workers: EvalWorker<Reply>[] = [];
  readonly #jobs = new Map<number, { worker: EvalWorker<Reply>; done: DeflateCallback }>();
  #nextId = 0;
  #closed = false;

  constructor(size: number, level: number) {
    this.size = size;
    this.level = level;
  }

  /**
   * Compress one block on an idle worker, a new one if none is idle and there is room,
   * else the least busy. The buffers' whole ArrayBuffers are transferred (block and
   * dictionary may share one): do not touch them until the block comes back in `done`.
   */
  deflate(job: DeflateJob, done: DeflateCallback): void {
    if (this.#closed) throw new Error('deflate pool is closed');
    const worker = this.#workers.find((w) => w.pending === 0) ?? this.#spawn() ?? this.#workers.reduce((a, b) => (b.pending < a.pending ? b : a));
    const id = this.#nextId++;
    this.#jobs.set(id, { worker, done });
    worker.begin();
    const transfer = new Set([job.block.buffer, ...(job.dictionary ? [job.dictionary.buffer] : [])]) as Set<ArrayBuffer>;
    worker.post({ id, ...job }, [...transfer]);
  }

  #spawn(): EvalWorker<Reply> | undefined {
    if (this.#workers.length >= this.size) return undefined;
    const events = { message: (reply: Reply) => this.#finish(reply), fail: (err: Error) => this.#fail(err) };
    const worker = new EvalWorker<Reply>('deflate', WORKER_SOURCE, { level: this.level }, events);
    this.#workers.push(worker);
    return worker;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#jobs.clear();
    for (const worker of this.#workers) worker.terminate();
  }

  #finish({ id, out, block }: Reply): void {
    const job = this.#jobs.get(id);
    if (!job) return;
    this.#jobs.delete(id);
    job.worker.end();
    job.done(null, asBuffer(out), asBuffer(block));
  }

  // A dead worker takes its queued blocks with it, so the whole pool fails: every
  // waiting caller hears the error once and the other workers are ended.
  #fail(err: Error): void {
    if (this.#closed) return;
    const waiting = [...this.#jobs.values()];
    this.close();
    for (const { done } of waiting) done(err);
  }
}

function asBuffer(view: Uint8Array): Buffer {
  return Buffer.from(view.buffer, view.byteOffset, view.byteLength);
}
