import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createCipheriv } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { pipeline } from 'node:stream/promises';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { crc32, deflateRawSync, gunzipSync, gzipSync } from 'node:zlib';
import { buildSync } from 'esbuild';
import { DeflatePool } from '../../src/appc/deflate-pool.ts';
import { parallelGzip, type ParallelGzipOptions } from '../../src/appc/pgzip.ts';

const BLOCK = 32 * 1024;
const HEADER = Buffer.from('1f8b0800000000000003', 'hex');

/** Deterministic noise: AES-CTR over zeros with a fixed key. */
function noise(n: number, seed = 0): Buffer {
  const cipher = createCipheriv('aes-128-ctr', Buffer.alloc(16, seed), Buffer.alloc(16));
  return cipher.update(Buffer.alloc(n));
}

/** Alternating runs of text-like and random data, so blocks differ in ratio. */
function mixed(n: number): Buffer {
  const parts: Buffer[] = [];
  const random = noise(n, 7);
  for (let at = 0, i = 0; at < n; i++) {
    const len = Math.min(n - at, 20_000 + ((i * 7919) % 90_000));
    parts.push(i % 3 === 2 ? random.subarray(at, at + len) : textLike(len, i));
    at += len;
  }
  return Buffer.concat(parts);
}

// Words from a fixed vocabulary: as in source or man pages, it pays to remember the last
// 32 KiB, so a block compressed without the dictionary loses ratio.
const VOCABULARY = Array.from({ length: 600 }, (_, i) => {
  const letters = noise(8, i);
  return Array.from({ length: 3 + (letters[0]! % 8) }, (_, j) => String.fromCharCode(97 + (letters[j]! % 26))).join('');
});

function textLike(n: number, salt: number): Buffer {
  const picks = noise(n + 1, salt % 256);
  let s = '';
  for (let i = 0; s.length < n; i++) s += VOCABULARY[(picks[i]! * 3 + picks[i + 1]!) % 600] + (picks[i]! % 11 ? ' ' : '\n');
  return Buffer.from(s.slice(0, n));
}

async function gzip(input: Buffer, opts: ParallelGzipOptions, chunk = 64 * 1024): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for (let at = 0; at < input.length; at += chunk) chunks.push(input.subarray(at, at + chunk));
  return buffer(Readable.from(chunks).pipe(parallelGzip(opts)));
}

let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'pgzip-test-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

/** Check with GNU gzip as well as Node: a ratio trick that only zlib accepts is no use. */
function assertSystemGunzip(gz: Buffer, expected: Buffer): void {
  const file = join(dir, 'out.gz');
  writeFileSync(file, gz);
  const test = spawnSync('gzip', ['-t', file]);
  assert.equal(test.status, 0, `gzip -t: ${test.stderr}`);
  const dc = spawnSync('gzip', ['-dc', file], { maxBuffer: 64 << 20 });
  assert.equal(dc.status, 0, `gzip -dc: ${dc.stderr}`);
  assert.ok(dc.stdout.equals(expected), 'gzip -dc output differs from the input');
}

describe('parallelGzip', () => {
  for (const size of [0, 1, BLOCK - 1, BLOCK, BLOCK + 1, 3 * BLOCK + 5]) {
    it(`round-trips ${size} bytes through gzip and Node's gunzip`, async () => {
      const input = mixed(size);
      const gz = await gzip(input, { blockSize: BLOCK, workers: 2 }, 10_000);
      assert.ok(gunzipSync(gz).equals(input));
      assertSystemGunzip(gz, input);
    });
  }

  it('round-trips a few MB of mixed data with the default block size, close to zlib ratio', async () => {
    const input = mixed(5 << 20);
    const gz = await gzip(input, {});
    assert.ok(gunzipSync(gz).equals(input));
    assertSystemGunzip(gz, input);
    // The 32 KiB dictionary is what keeps blocking from costing ratio: on this data it
    // lands within 0.3% of one zlib stream, and 0.8% above it without.
    const single = gzipSync(input, { level: 6 }).length;
    assert.ok(gz.length < single * 1.004, `${gz.length} bytes vs ${single} from one zlib stream`);
  });

  it('writes the same bytes for any worker count and input chunking', async () => {
    const input = mixed(2 << 20);
    const one = await gzip(input, { blockSize: BLOCK, workers: 1 }, 1 << 20);
    const three = await gzip(input, { blockSize: BLOCK, workers: 3 }, 777);
    assert.ok(one.equals(three));
  });

  it('writes the fixed header and a trailer with CRC32 and ISIZE', async () => {
    // One input below a block (no workers) and one above (workers): same framing.
    for (const input of [mixed(100), mixed(5 * BLOCK)]) {
      const gz = await gzip(input, { blockSize: BLOCK });
      assert.deepEqual(gz.subarray(0, 10), HEADER);
      assert.equal(gz.readUInt32LE(gz.length - 8), crc32(input));
      assert.equal(gz.readUInt32LE(gz.length - 4), input.length);
    }
  });

  it('destroys the stream with the source error', async () => {
    const broke = new Error('source broke');
    async function* source(): AsyncGenerator<Buffer> {
      yield noise(3 * BLOCK);
      throw broke;
    }
    const gz = parallelGzip({ blockSize: BLOCK, workers: 2 });
    await assert.rejects(pipeline(Readable.from(source()), gz, async function* (s) {
      for await (const _ of s);
    }), broke);
    assert.equal(gz.destroyed, true);
    assert.equal(gz.errored, broke);
  });

  it('rejects a block size below the deflate window', () => {
    assert.throws(() => parallelGzip({ blockSize: BLOCK - 1 }), RangeError);
    assert.throws(() => parallelGzip({ level: 10 }), RangeError);
    assert.throws(() => parallelGzip({ workers: 0 }), RangeError);
  });
});

describe('DeflatePool', () => {
  it('hands the block back in the same memory, so its buffer can be reused', async () => {
    const pool = new DeflatePool(1, 6);
    const buffer = Buffer.allocUnsafeSlow(2 * BLOCK);
    noise(2 * BLOCK).copy(buffer);
    const expected = deflateRawSync(buffer.subarray(BLOCK), { dictionary: buffer.subarray(0, BLOCK) });
    const job = { block: buffer.subarray(BLOCK), dictionary: buffer.subarray(0, BLOCK), last: true };
    const [out, block] = await new Promise<[Buffer?, Buffer?]>((resolve, reject) =>
      pool.deflate(job, (err, o, b) => (err ? reject(err) : resolve([o, b]))),
    );
    pool.close();
    assert.ok(out?.equals(expected));
    assert.equal(block?.byteOffset, BLOCK);
    assert.equal(block?.buffer.byteLength, 2 * BLOCK);
    assert.equal(buffer.buffer.byteLength, 0, 'the buffer was copied, not transferred');
  });

  it('reports an error thrown in a worker to every waiting caller and closes', async () => {
    // parallelGzip validates the level; the pool does not, so a bad one fails in the worker.
    const pool = new DeflatePool(2, 42);
    const job = () => ({ block: noise(BLOCK), dictionary: null, last: true });
    const errors = await Promise.all(
      [job(), job()].map((j) => new Promise<Error | null>((resolve) => pool.deflate(j, (err) => resolve(err)))),
    );
    for (const err of errors) assert.match(String(err?.message), /level/);
    assert.throws(() => pool.deflate(job(), () => {}), /closed/);
  });
});

describe('parallelGzip in a bundled child process', () => {
  let bundle: string;
  before(() => {
    // The CLI ships as one esbuild file: the workers must start from inside such a bundle.
    bundle = join(dir, 'pgzip-child.mjs');
    const entry = fileURLToPath(new URL('./fixtures/pgzip-child.ts', import.meta.url));
    buildSync({ entryPoints: [entry], bundle: true, platform: 'node', format: 'esm', outfile: bundle, logLevel: 'error' });
  });

  // A hang shows up as the timeout's SIGTERM; this bounds the test, it times nothing.
  const run = (mode: string, input?: Buffer) =>
    spawnSync(process.execPath, [bundle, mode], { input, timeout: 60_000, maxBuffer: 64 << 20 });

  it('exits by itself after compressing', () => {
    const input = mixed(1 << 20);
    const child = run('complete', input);
    assert.equal(child.signal, null, 'child was killed: a worker kept it alive');
    assert.equal(child.status, 0, String(child.stderr));
    assert.ok(gunzipSync(child.stdout).equals(input));
  });

  it('exits by itself after a source error', () => {
    const child = run('fail');
    assert.equal(child.signal, null, 'child was killed: a worker kept it alive');
    assert.equal(child.status, 3);
    assert.match(String(child.stderr), /source broke/);
  });

  it('exits by itself when the stream is left unfinished', () => {
    const child = run('abandon');
    assert.equal(child.signal, null, 'child was killed: a worker kept it alive');
    assert.equal(child.status, 0, String(child.stderr));
  });
});
