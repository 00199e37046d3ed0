import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { createCipheriv } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import type { Metafile } from 'esbuild';
import { buildBundle } from '../../scripts/bundle.mjs';
import { decompressed } from '../../src/appc/compression.ts';
import { xzDecompressed, xzWorkerCount } from '../../src/appc/xz-pool.ts';
import { UserError } from '../../src/util/errors.ts';
import { installCopy } from '../bundle/helpers.ts';

// xz streams decode with xz-decompress's own JS (src/appc/xz-pool.ts): on the main thread
// while no other stream does, on worker threads when they overlap, several at once. The
// bundle carries that JS as text (scripts/bundle.mjs).

const xz = (data: Buffer, args: string[] = []) => execFileSync('xz', ['-c', ...args], { input: data, maxBuffer: 1 << 28 });

/** Deterministic noise: AES-CTR over zeros with a fixed key. */
function noise(n: number, seed = 0): Buffer {
  return createCipheriv('aes-128-ctr', Buffer.alloc(16, seed), Buffer.alloc(16)).update(Buffer.alloc(n));
}

/** Text-like runs and random runs: a ratio like a package's, several MB decoded. */
function mixed(n: number): Buffer {
  const parts: Buffer[] = [];
  for (let at = 0, i = 0; at < n; i++) {
    const len = Math.min(n - at, 50_000 + ((i * 7919) % 90_000));
    parts.push(i % 3 === 2 ? noise(len, i % 256) : Buffer.from(`line ${i} of some text, repeated; `.repeat(Math.ceil(len / 30)).slice(0, len)));
    at += len;
  }
  return Buffer.concat(parts);
}

/** A source that gives `data` in pieces of `size` bytes. */
const pieces = (data: Buffer, size: number) => Readable.from(Array.from({ length: Math.ceil(data.length / size) }, (_, i) => data.subarray(i * size, (i + 1) * size)));

const big = mixed(3 << 20);
let bigXz: Buffer;
before(() => {
  bigXz = xz(big);
});

describe('xzDecompressed', () => {
  it('gives back what xz compressed, whatever the chunking of its input', async () => {
    for (const [data, chunk] of [
      [Buffer.alloc(0), 64],
      [Buffer.from('hello xz\n'), 1],
      [mixed(200_000), 4096],
      [big, 64 * 1024],
    ] as const) {
      const out = await buffer(xzDecompressed(pieces(xz(data), chunk)));
      assert.ok(out.equals(data), `${data.length} bytes in ${chunk}-byte chunks`);
    }
  });

  it('decodes streams side by side: one left unread does not hold up another', async () => {
    // xz-decompress alone decodes one stream at a time per thread, the next waiting for
    // the first to be read to its end: here that would never happen. The held one is on
    // the main thread, the other on a worker.
    const held = xzDecompressed(pieces(bigXz, 64 * 1024));
    const first = await held[Symbol.asyncIterator]().next();
    assert.ok((first.value as Buffer).length > 0);
    const timeout = new AbortController();
    const timedOut = sleep(20_000, 'timed out', { signal: timeout.signal }).catch(() => 'timed out');
    const other = await Promise.race([buffer(xzDecompressed(pieces(bigXz, 64 * 1024))), timedOut]);
    timeout.abort();
    assert.ok(Buffer.isBuffer(other) && other.equals(big), String(other).slice(0, 40));
    held.destroy();
  });

  it('more streams than threads all finish, on at most four threads', async () => {
    const inputs = Array.from({ length: 7 }, (_, i) => mixed(100_000 + i * 50_000));
    let most = 0;
    const watch = setInterval(() => (most = Math.max(most, xzWorkerCount())), 1);
    try {
      const outs = await Promise.all(inputs.map((data) => buffer(xzDecompressed(Readable.from([xz(data)])))));
      outs.forEach((out, i) => assert.ok(out.equals(inputs[i]!), `stream ${i}`));
    } finally {
      clearInterval(watch);
    }
    // The main thread decodes one of them.
    assert.ok(most >= 1 && most <= 3, `${most} workers`);
  });

  it('stops reading its source at a slow reader, and finishes when read', async () => {
    let pulled = 0;
    async function* counted(): AsyncGenerator<Buffer> {
      for (let at = 0; at < bigXz.length; at += 16 * 1024) {
        pulled += 1;
        yield bigXz.subarray(at, at + 16 * 1024);
      }
    }
    const decoded = xzDecompressed(Readable.from(counted()));
    const it = decoded[Symbol.asyncIterator]();
    await it.next();
    await sleep(300);
    const total = Math.ceil(bigXz.length / (16 * 1024));
    assert.ok(pulled < total / 2, `read ${pulled} of ${total} source chunks while the reader waited`);
    const rest: Buffer[] = [];
    for (let r = await it.next(); !r.done; r = await it.next()) rest.push(r.value as Buffer);
    assert.equal(pulled, total);
  });

  it('a source error ends the stream with that error, on the main thread or a worker', async () => {
    const broke = new Error('source broke');
    async function* failing(): AsyncGenerator<Buffer> {
      yield bigXz.subarray(0, 100_000);
      throw broke;
    }
    await assert.rejects(buffer(xzDecompressed(Readable.from(failing()))), (err) => err === broke);
    const held = xzDecompressed(pieces(bigXz, 64 * 1024));
    await held[Symbol.asyncIterator]().next();
    await assert.rejects(buffer(xzDecompressed(Readable.from(failing()))), (err) => err === broke);
    held.destroy();
  });

  it('a stream destroyed half-way ends its decoder and its source; the next streams decode', async () => {
    // The first on the main thread, the second on a worker.
    const sources = [pieces(bigXz, 64 * 1024), pieces(bigXz, 64 * 1024)];
    const decoded = sources.map((s) => xzDecompressed(s));
    for (const d of decoded) await d[Symbol.asyncIterator]().next();
    const workers = xzWorkerCount();
    assert.ok(workers >= 1);
    decoded[1]!.destroy();
    assert.equal(sources[1]!.destroyed, true);
    assert.equal(xzWorkerCount(), workers - 1, 'the worker, stopped half-way, is ended');
    decoded[0]!.destroy();
    assert.equal(sources[0]!.destroyed, true);
    const again = await Promise.all([0, 1].map(() => buffer(xzDecompressed(Readable.from([bigXz])))));
    for (const out of again) assert.ok(out.equals(big));
  });

  it('one stream at a time needs no worker; idle workers end after a while', async () => {
    const before = xzWorkerCount();
    for (let i = 0; i < 3; i++) assert.ok((await buffer(xzDecompressed(Readable.from([bigXz])))).equals(big));
    assert.equal(xzWorkerCount(), before, 'one stream at a time decodes on the main thread');
    await Promise.all([0, 1].map(() => buffer(xzDecompressed(Readable.from([xz(Buffer.from('x'))])))));
    assert.ok(xzWorkerCount() > 0);
    await sleep(2500);
    assert.equal(xzWorkerCount(), 0);
  });
});

describe('xz errors, through decompressed()', () => {
  const refused = async (data: Buffer, message: RegExp) =>
    assert.rejects(buffer(await decompressed(Readable.from([data]))), (err: Error) => {
      assert.ok(err instanceof UserError, `${err}`);
      assert.match(err.message, message);
      return true;
    });

  it('names corrupt and truncated data, on the main thread or a worker, and goes on to the next stream', async () => {
    const corrupt = Buffer.from(bigXz);
    corrupt[corrupt.length >> 1] ^= 0xff;
    const all = async () => {
      await refused(corrupt, /^invalid xz data: corrupt data \(xz error 7\)$/);
      await refused(bigXz.subarray(0, bigXz.length >> 1), /^invalid xz data: unexpected end of input \(xz error 8\)$/);
      // The magic, then no valid stream header.
      await refused(Buffer.concat([bigXz.subarray(0, 6), Buffer.alloc(64, 0x55)]), /^invalid xz data: /);
      assert.ok((await buffer(await decompressed(Readable.from([bigXz])))).equals(big));
    };
    await all();
    const held = xzDecompressed(pieces(bigXz, 64 * 1024));
    await held[Symbol.asyncIterator]().next();
    await all();
    held.destroy();
  });

  it('reads what xz -9e makes, and names what the decoder lacks', async () => {
    const data = mixed(500_000);
    assert.ok((await buffer(await decompressed(Readable.from([xz(data, ['-9e'])])))).equals(data));
    // xz-embedded as the library builds it: no SHA-256 check, no BCJ filters (dpkg-deb uses neither).
    await refused(xz(data, ['--check=sha256']), /^invalid xz data: unsupported check or filter \(CRC32 or CRC64 checks and LZMA2 only\) \(xz error 6\)$/);
    await refused(xz(data, ['--arm', '--lzma2=preset=6']), /\(xz error 6\)$/);
  });
});

describe('xz in a bundle copied alone', () => {
  let dir: string;
  let child: string;
  before(async () => {
    dir = fs.mkdtempSync(path.join(fs.realpathSync('/tmp'), 'rkt-xz-test-'));
    const built = path.join(dir, 'built', 'xz-child');
    await buildBundle({ entry: 'test/appc/fixtures/xz-child.ts', outfile: built });
    const inputs = Object.keys((JSON.parse(fs.readFileSync(`${built}.meta.json`, 'utf8')) as Metafile).inputs);
    assert.deepEqual(inputs.filter((p) => p.includes('node_modules/xz-decompress')), [], 'the library is bundled as a module, not embedded');
    assert.ok(inputs.includes('src/appc/xz-library.ts'));
    const lone = path.join(dir, 'lone');
    fs.mkdirSync(lone);
    child = installCopy(built, lone);
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  // A hang shows up as the timeout's SIGTERM; this bounds the test, it times nothing.
  const run = (mode: string, input: Buffer) =>
    spawnSync(process.execPath, [child, mode], { cwd: path.dirname(child), input, timeout: 60_000, maxBuffer: 64 << 20, env: { PATH: process.env.PATH } });

  it('decodes with the embedded library, on the main thread and workers, and exits by itself', () => {
    const r = run('complete', bigXz);
    assert.equal(r.signal, null, 'child was killed: a worker kept it alive');
    assert.equal(r.status, 0, String(r.stderr));
    assert.ok(r.stdout.equals(big));
  });

  it('exits by itself when streams are left unread', () => {
    const r = run('abandon', bigXz);
    assert.equal(r.signal, null, 'child was killed: a worker kept it alive');
    assert.equal(r.status, 0, String(r.stderr));
    assert.match(String(r.stderr), /^read a chunk of two, [1-9] workers$/m);
  });
});
