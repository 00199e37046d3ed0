import { availableParallelism } from 'node:os';
import { createRequire } from 'node:module';
import { Readable } from 'node:stream';
import type { ReadableStream } from 'node:stream/web';
import { EvalWorker } from './eval-worker.ts';
import { xzLibrarySource } from './xz-library.ts';

// xz-decompress decodes in WebAssembly on the thread that calls it, and one stream at a
// time per thread: a mutex around its one module instance holds every other stream until
// the current one has been read to its end. The arches of `actool cross` then unpacked
// their data.tar.xz one after the other, all on the main thread. Here a stream decodes on
// the main thread only while no other does; streams that overlap it decode on worker
// threads, each of which evaluates the library's JS (xz-library.ts), so they run side by
// side. One stream at a time (an ACI, a board building one arch) costs no thread, which
// takes ~35 ms of CPU to start on x86 and far more on a Pi Zero, whose one core gains
// nothing from it.
//
// Flow control both ways: a worker holds at most MAX_INPUT compressed chunks not yet
// taken by the decoder, and sends decoded chunks only while it has allowance, which the
// reading side grants WINDOW at a time as its buffer empties. A stream holds its thread
// from its first read to its end; more streams than threads wait for one, in order.

/** Decoded chunks (the library's, 64 KiB at most) a worker may send ahead of the reader. */
const WINDOW = 8;
/** Compressed chunks sent to a worker and not yet taken by its decoder. */
const MAX_INPUT = 2;
/** Buffered decoded bytes below which the reader asks for more. */
const HIGH_WATER = 256 * 1024;
/** An idle worker ends after this long; the next stream starts another. */
const IDLE_MS = 2000;

// The worker's code (an EvalWorker). The library's UMD file exports itself as a CommonJS
// module when it sees `module`. Its stream pulls input only while decoding, so the input
// stream asks for nothing ahead (highWaterMark 0): what the main thread sent is queued here.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const library = { exports: {} };
new Function('module', 'exports', 'require', workerData.library)(library, library.exports, require);
const { XzReadableStream } = library.exports;

let job = null;

parentPort.on('message', (msg) => {
  if (msg.start) {
    job = { input: [], fed: false, allowance: msg.allowance, waiters: [] };
    void decode(job);
    return;
  }
  if (!job) return;
  if (msg.chunk) job.input.push(msg.chunk);
  else if (msg.end) job.input.push(null);
  else if (msg.more) job.allowance += msg.more;
  const waiters = job.waiters;
  job.waiters = [];
  for (const wake of waiters) wake();
});

async function until(job, ready) {
  while (!ready()) await new Promise((wake) => job.waiters.push(wake));
}

async function decode(job) {
  const input = new ReadableStream({
    async pull(controller) {
      await until(job, () => job.input.length > 0);
      const chunk = job.input.shift();
      // The library cannot tell an empty input from a truncated one.
      if (chunk === null && !job.fed) throw new Error('unexpected end of input (no data)');
      if (chunk === null) return controller.close();
      job.fed = true;
      controller.enqueue(chunk);
      parentPort.postMessage({ took: true });
    },
  }, { highWaterMark: 0 });
  const reader = new XzReadableStream(input).getReader();
  try {
    for (;;) {
      await until(job, () => job.allowance > 0);
      const { done, value } = await reader.read();
      if (done) break;
      if (value.byteLength === 0) continue;
      job.allowance--;
      // The library hands out copies of its memory: whole ArrayBuffers, which can move.
      const out = value.byteOffset === 0 && value.byteLength === value.buffer.byteLength ? value : value.slice();
      parentPort.postMessage({ chunk: out }, [out.buffer]);
    }
    parentPort.postMessage({ done: true });
  } catch (err) {
    parentPort.postMessage({ error: err instanceof Error ? err.message : String(err) });
  }
}
`;

type Reply = { took: true } | { chunk: Uint8Array } | { done: true } | { error: string };

type XzReadableStreamClass = new (compressed: ReadableStream<Uint8Array>) => ReadableStream<Uint8Array>;

let mainThreadLibrary: XzReadableStreamClass | undefined;

/** The library evaluated on this thread, from the same text the workers get. */
function mainThreadDecoder(): XzReadableStreamClass {
  if (!mainThreadLibrary) {
    const library = { exports: {} as { XzReadableStream: XzReadableStreamClass } };
    new Function('module', 'exports', 'require', xzLibrarySource())(library, library.exports, createRequire(import.meta.url));
    mainThreadLibrary = library.exports.XzReadableStream;
  }
  return mainThreadLibrary;
}

/** Where a stream decodes, as the stream holds it. */
interface Lease {
  /** A worker's: posts to it. The main thread's has none. */
  post?(message: unknown, transfer?: ArrayBuffer[]): void;
  /**
   * Whether the reader waits on the worker: only then does the worker keep the process
   * alive, so that a stream left unread (not even destroyed) does not keep Node running.
   */
  awaited(on: boolean): void;
  /** The stream is over: the thread can decode another. */
  release(): void;
  /** The stream was given up half-way: the thread's decoder, in the middle of it, is dropped. */
  discard(): void;
}

interface Member {
  worker: EvalWorker<Reply>;
  stream: XzStream | null;
  idleTimer?: NodeJS.Timeout;
}

class XzPool {
  readonly #maxWorkers: number;
  readonly #idle: Member[] = [];
  readonly #waiting: XzStream[] = [];
  #mainThreadBusy = false;
  #live = 0;

  constructor(maxWorkers: number) {
    this.#maxWorkers = maxWorkers;
  }

  /** Worker threads now running, busy or idle. */
  get live(): number {
    return this.#live;
  }

  /** Starts `stream` on a free thread, now or as soon as there is one. */
  schedule(stream: XzStream): void {
    if (!this.#mainThreadBusy) return this.#onMainThread(stream);
    const member = this.#idle.pop() ?? (this.#live < this.#maxWorkers ? this.#spawn() : undefined);
    if (member) this.#assign(member, stream);
    else this.#waiting.push(stream);
  }

  /** A stream destroyed before it started. */
  unschedule(stream: XzStream): void {
    const at = this.#waiting.indexOf(stream);
    if (at >= 0) this.#waiting.splice(at, 1);
  }

  #onMainThread(stream: XzStream): void {
    this.#mainThreadBusy = true;
    let held = true;
    const leave = (): void => {
      if (!held) return;
      held = false;
      this.#mainThreadBusy = false;
      const next = this.#waiting.shift();
      if (next) this.#onMainThread(next);
    };
    stream.start({
      awaited: () => {},
      release: leave,
      discard: () => {
        // Cancelled half-way, the library may still touch its memory: the next stream
        // gets a new instance.
        mainThreadLibrary = undefined;
        leave();
      },
    });
  }

  #spawn(): Member {
    this.#live++;
    const member: Member = { stream: null } as Member;
    member.worker = new EvalWorker<Reply>('xz', WORKER_SOURCE, { library: xzLibrarySource() }, {
      message: (reply) => member.stream?.reply(reply),
      fail: (err) => {
        const stream = member.stream;
        this.#drop(member);
        stream?.fail(err);
      },
    });
    return member;
  }

  #assign(member: Member, stream: XzStream): void {
    clearTimeout(member.idleTimer);
    member.stream = stream;
    let held = true;
    let awaited = false;
    const leave = (then: () => void): void => {
      if (!held) return;
      held = false;
      if (awaited) member.worker.end();
      member.stream = null;
      then();
    };
    stream.start({
      // After release the worker may be another stream's: late posts (the source's
      // 'end' after the decoder finished) go nowhere.
      post: (message, transfer) => held && member.worker.post(message, transfer),
      awaited: (on) => {
        if (!held || on === awaited) return;
        awaited = on;
        if (on) member.worker.begin();
        else member.worker.end();
      },
      release: () => leave(() => this.#rest(member)),
      discard: () =>
        leave(() => {
          member.worker.terminate();
          this.#drop(member);
        }),
    });
  }

  /** A worker that finished its stream: the next waiting stream's, or idle for a while. */
  #rest(member: Member): void {
    const next = this.#waiting.shift();
    if (next) return this.#assign(member, next);
    this.#idle.push(member);
    member.idleTimer = setTimeout(() => {
      member.worker.terminate();
      this.#drop(member);
    }, IDLE_MS).unref();
  }

  /** A worker gone (ended, or dead): a waiting stream gets a new one. */
  #drop(member: Member): void {
    clearTimeout(member.idleTimer);
    const at = this.#idle.indexOf(member);
    if (at >= 0) this.#idle.splice(at, 1);
    member.stream = null;
    this.#live--;
    const next = this.#waiting.shift();
    if (next) this.#assign(this.#spawn(), next);
  }
}

// With the main thread, one stream per core, at most 4 at once, and at least 2, so that
// one stream read slowly (or held open) never stops all others.
const pool = new XzPool(Math.max(1, Math.min(availableParallelism(), 4) - 1));

/** Worker threads the xz pool is running; for tests and diagnostics. */
export function xzWorkerCount(): number {
  return pool.live;
}

/**
 * The bytes of the xz stream in `source`: decoded on the main thread when no other
 * stream is, else on a worker thread. The source is not read until its thread is free;
 * it is destroyed when the stream ends, fails or is destroyed. Bytes after the end of the
 * first xz stream are not read (the library decodes one stream).
 */
export function xzDecompressed(source: Readable): Readable {
  return new XzStream(source);
}

class XzStream extends Readable {
  readonly #source: Readable;
  #lease: Lease | null = null;
  /** On the main thread: the library's decoded stream. */
  #local: Readable | null = null;
  /** Decoded chunks the worker may still send. */
  #allowance = 0;
  /** Compressed chunks sent and not yet taken. */
  #inFlight = 0;
  /** The reader asked for data (_read) and has had none since. */
  #wanted = false;

  constructor(source: Readable) {
    super({ highWaterMark: HIGH_WATER });
    this.#source = source;
    source.on('error', (err) => this.destroy(err));
    pool.schedule(this);
  }

  start(lease: Lease): void {
    if (this.destroyed) return lease.release();
    this.#lease = lease;
    if (lease.post) this.#startWorker(lease.post);
    else this.#startHere();
  }

  #startHere(): void {
    const XzReadableStream = mainThreadDecoder();
    const local = Readable.fromWeb(new XzReadableStream(Readable.toWeb(this.#source) as ReadableStream<Uint8Array>));
    this.#local = local;
    local.on('data', (chunk: Buffer) => {
      if (!this.push(chunk)) local.pause();
    });
    local.on('end', () => this.#finish());
    local.on('error', (err) => this.#finish(err.message));
  }

  #startWorker(post: NonNullable<Lease['post']>): void {
    this.#allowance = WINDOW;
    post({ start: true, allowance: WINDOW });
    this.#lease!.awaited(this.#wanted);
    this.#source.on('data', (chunk: Buffer) => {
      // A copy with its own ArrayBuffer: the source's may be shared (a pool slice) or
      // still in use elsewhere, and must not be moved away.
      const copy = new Uint8Array(chunk);
      post({ chunk: copy }, [copy.buffer]);
      if (++this.#inFlight >= MAX_INPUT) this.#source.pause();
    });
    this.#source.on('end', () => post({ end: true }));
  }

  reply(reply: Reply): void {
    if ('took' in reply) {
      if (--this.#inFlight < MAX_INPUT) this.#source.resume();
    } else if ('chunk' in reply) {
      this.#allowance--;
      const { buffer, byteOffset, byteLength } = reply.chunk;
      // push() may call _read at once, which wants again.
      this.#want(false);
      if (!this.destroyed) this.push(Buffer.from(buffer, byteOffset, byteLength));
    } else {
      this.#finish('error' in reply ? reply.error : undefined);
    }
  }

  /** The decoder is done, or failed: its thread is free. */
  #finish(error?: string): void {
    this.#lease?.release();
    this.#lease = null;
    this.#local = null;
    this.#source.destroy();
    if (error !== undefined) this.destroy(new Error(describeXzError(error)));
    else this.push(null);
  }

  /** The worker died mid-stream. */
  fail(err: Error): void {
    this.#lease = null;
    this.destroy(err);
  }

  #want(on: boolean): void {
    this.#wanted = on;
    this.#lease?.awaited(on);
  }

  override _read(): void {
    if (this.#local) {
      this.#local.resume();
      return;
    }
    this.#want(true);
    if (!this.#lease?.post || this.#allowance >= WINDOW / 2) return;
    this.#lease.post({ more: WINDOW - this.#allowance });
    this.#allowance = WINDOW;
  }

  override _destroy(err: Error | null, callback: (error?: Error | null) => void): void {
    if (this.#lease) this.#lease.discard();
    else pool.unschedule(this);
    this.#lease = null;
    this.#local?.destroy();
    this.#local = null;
    this.#source.destroy();
    callback(err);
  }
}

// xz-embedded's xz_ret codes, which the library reports by number.
const XZ_ERRORS: Record<string, string> = {
  '2': 'unsupported integrity check',
  '3': 'out of memory',
  '4': 'dictionary larger than the memory limit',
  '5': 'not xz data',
  // Seen for a SHA-256 check and for any filter but LZMA2 (BCJ, delta).
  '6': 'unsupported check or filter (CRC32 or CRC64 checks and LZMA2 only)',
  '7': 'corrupt data',
  '8': 'unexpected end of input',
};

function describeXzError(message: string): string {
  const code = /error code (\d+)$/.exec(message)?.[1];
  const what = code === undefined ? undefined : XZ_ERRORS[code];
  return what ? `${what} (xz error ${code})` : message;
}
