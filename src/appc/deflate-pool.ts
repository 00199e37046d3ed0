import { Worker } from 'node:worker_threads';

/** One block of a pigz-style stream: raw deflate primed with the previous 32 KiB of input. */
export interface DeflateJob {
  block: Buffer;
  /** The 32 KiB of input before `block`, or null for the first block. */
  dictionary: Buffer | null;
  /** The last block ends the deflate stream (Z_FINISH); others end byte-aligned (Z_SYNC_FLUSH). */
  last: boolean;
}

export type DeflateCallback = (err: Error | null, out?: Buffer) => void;

// Plain JS in a string, run with `eval: true`: inside a single-file esbuild bundle there
// is no worker file on disk to point at, and a stringified function would be mangled by
// the bundler.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { deflateRawSync, constants } = require('node:zlib');
parentPort.on('message', ({ id, block, dictionary, last }) => {
  const options = { level: workerData.level, finishFlush: last ? constants.Z_FINISH : constants.Z_SYNC_FLUSH };
  if (dictionary) options.dictionary = dictionary;
  parentPort.postMessage({ id, out: deflateRawSync(block, options) });
});
`;

interface Slot {
  worker: Worker;
  pending: number;
}

/**
 * A fixed set of deflate worker threads. A worker holds the process open only while it
 * has work, so a stream that is dropped half-way never keeps Node alive; close() ends
 * them all.
 */
export class DeflatePool {
  readonly #slots: Slot[] = [];
  readonly #jobs = new Map<number, { slot: Slot; done: DeflateCallback }>();
  #nextId = 0;
  #closed = false;

  constructor(size: number, level: number) {
    for (let i = 0; i < size; i++) {
      const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { level } });
      const slot: Slot = { worker, pending: 0 };
      worker.unref();
      worker.on('message', (msg: { id: number; out: Uint8Array }) => this.#finish(msg.id, msg.out));
      worker.on('error', (err) => this.#fail(err));
      worker.on('exit', (code) => this.#fail(new Error(`deflate worker exited with code ${code}`)));
      this.#slots.push(slot);
    }
  }

  /** Compress one block on the least busy worker. The buffers are transferred: do not reuse them. */
  deflate(job: DeflateJob, done: DeflateCallback): void {
    if (this.#closed) throw new Error('deflate pool is closed');
    const slot = this.#slots.reduce((a, b) => (b.pending < a.pending ? b : a));
    const id = this.#nextId++;
    this.#jobs.set(id, { slot, done });
    if (slot.pending++ === 0) slot.worker.ref();
    const transfer = [job.block.buffer, ...(job.dictionary ? [job.dictionary.buffer] : [])] as ArrayBuffer[];
    slot.worker.postMessage({ id, ...job }, transfer);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#jobs.clear();
    for (const { worker } of this.#slots) void worker.terminate();
  }

  #finish(id: number, out: Uint8Array): void {
    const job = this.#jobs.get(id);
    if (!job) return;
    this.#jobs.delete(id);
    if (--job.slot.pending === 0) job.slot.worker.unref();
    job.done(null, Buffer.from(out.buffer, out.byteOffset, out.byteLength));
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
