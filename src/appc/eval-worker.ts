import { Worker, type Transferable } from 'node:worker_threads';

/** What a worker's owner hears: its replies, and once, why it can no longer be used. */
export interface EvalWorkerEvents<Reply> {
  message(reply: Reply): void;
  /** An uncaught error in the worker, or its exit; not called after terminate(). */
  fail(err: Error): void;
}

/**
 * A worker thread running `source`, plain CommonJS JavaScript in a string run with
 * `eval: true`: inside a single-file esbuild bundle there is no worker file on disk to
 * point at, and a stringified function would be mangled by the bundler. The worker
 * holds the process open only while it has work (between begin() and the matching
 * end()), so a stream that is dropped half-way never keeps Node alive.
 *
 * The deflate pool (pgzip) and the xz decoders (xz-pool) are built on it.
 */
export class EvalWorker<Reply> {
  readonly #worker: Worker;
  #pending = 0;
  #over = false;

  constructor(name: string, source: string, workerData: unknown, events: EvalWorkerEvents<Reply>) {
    this.#worker = new Worker(source, { eval: true, workerData });
    this.#worker.unref();
    this.#worker.on('message', (reply: Reply) => events.message(reply));
    const fail = (err: Error): void => {
      if (this.#over) return;
      this.#over = true;
      events.fail(err);
    };
    this.#worker.on('error', fail);
    this.#worker.on('exit', (code) => fail(new Error(`${name} worker exited with code ${code}`)));
  }

  /** Jobs begun and not yet ended. */
  get pending(): number {
    return this.#pending;
  }

  /** A job starts: the worker now keeps the process alive. */
  begin(): void {
    if (this.#pending++ === 0) this.#worker.ref();
  }

  /** A job is over: with none left, the worker no longer keeps the process alive. */
  end(): void {
    if (--this.#pending === 0) this.#worker.unref();
  }

  post(message: unknown, transfer: readonly Transferable[] = []): void {
    this.#worker.postMessage(message, transfer);
  }

  /** Ends the thread; its owner hears nothing more from it. */
  terminate(): void {
    this.#over = true;
    void this.#worker.terminate();
  }
}
