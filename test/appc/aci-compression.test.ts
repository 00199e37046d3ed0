import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { readAci, readAciFile } from '../../src/appc/aci-reader.ts';
import { packAci } from '../../src/appc/aci-writer.ts';
import { decompressed, sniffCompression } from '../../src/appc/compression.ts';
import { UserError } from '../../src/util/errors.ts';
import { collect, makeLayout, tempDir } from './fixtures/aci-layout.ts';

const sh = (cmd: string, args: string[], input?: Buffer): Buffer =>
  execFileSync(cmd, args, { input, maxBuffer: 1 << 30 });

const sha512sum = (file: string, decompress: string): string =>
  `sha512-${sh('sh', ['-c', `${decompress} < "$1" | sha512sum`, 'sh', file]).toString().split(' ')[0]}`;

async function packedTar(): Promise<Buffer> {
  const dir = await tempDir('aci-compression');
  // Random content (incompressible) over 2 MB: several bzip2 blocks and several gzip windows.
  await makeLayout(dir, { 'bin/app': randomBytes(2_500_000), 'etc/motd': 'hello\n'.repeat(50_000), 'empty': '' });
  return collect(packAci(dir, { ownerRoot: true }));
}

test('sniffCompression tells gzip, bzip2, xz and plain tar by their magic', () => {
  assert.equal(sniffCompression(Buffer.from([0x1f, 0x8b, 8, 0])), 'gzip');
  assert.equal(sniffCompression(Buffer.from('BZh91AY&SY')), 'bzip2');
  assert.equal(sniffCompression(Buffer.from('BZh0')), 'none');
  assert.equal(sniffCompression(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00, 0])), 'xz');
  assert.equal(sniffCompression(Buffer.from('manifest\0\0\0')), 'none');
  assert.equal(sniffCompression(Buffer.alloc(0)), 'none');
});

test('image ID equals `gzip -dc x.aci | sha512sum` for zlib gzip and system gzip, and bzip2/xz give the same ID', async () => {
  const tar = await packedTar();
  const dir = await tempDir('aci-ids');
  const variants: [string, Buffer, string][] = [
    ['zlib.aci', gzipSync(tar), 'gzip -dc'],
    ['gzip.aci', sh('gzip', ['-c'], tar), 'gzip -dc'],
    ['pigz.aci', sh('pigz', ['-c', '-b', '128'], tar), 'gzip -dc'],
    ['bzip2.aci', sh('bzip2', ['-c'], tar), 'bzip2 -dc'],
    ['xz.aci', sh('xz', ['-c'], tar), 'xz -dc'],
    ['plain.aci', tar, 'cat'],
  ];
  const ids = new Set<string>();
  for (const [name, bytes, decompress] of variants) {
    const file = join(dir, name);
    await writeFile(file, bytes);
    const { imageId, entries } = await readAciFile(file);
    assert.equal(imageId, sha512sum(file, decompress), name);
    assert.equal(entries.length, 7, name);
    ids.add(imageId);
  }
  assert.equal(ids.size, 1);
});

test('concatenated gzip members and bzip2 streams decompress as one', async () => {
  const a = Buffer.from('first part,');
  const b = Buffer.from('second part');
  const gz = Buffer.concat([gzipSync(a), gzipSync(b)]);
  assert.equal((await collect(await decompressed(Readable.from([gz])))).toString(), 'first part,second part');
  const bz = Buffer.concat([sh('bzip2', ['-c'], a), sh('bzip2', ['-c'], b)]);
  assert.equal((await collect(await decompressed(Readable.from([bz])))).toString(), 'first part,second part');
});

test('the magic bytes are found even when the source delivers them one byte at a time', async () => {
  const gz = gzipSync(Buffer.from('dribbled'));
  const bytes = [...gz].map((b) => Buffer.from([b]));
  assert.equal((await collect(await decompressed(Readable.from(bytes)))).toString(), 'dribbled');
});

for (const [format, compress] of [
  ['gzip', (b: Buffer) => gzipSync(b)],
  ['bzip2', (b: Buffer) => sh('bzip2', ['-c'], b)],
  ['xz', (b: Buffer) => sh('xz', ['-c'], b)],
] as const) {
  test(`a truncated ${format} archive is refused with a one-line error`, async () => {
    const whole = compress(await packedTar());
    const cut = whole.subarray(0, Math.floor(whole.length * 0.6));
    await assert.rejects(readAci(Readable.from([cut])), (err: Error) => {
      assert.ok(err instanceof UserError, `${err}`);
      assert.doesNotMatch(err.message, /\n/);
      assert.match(err.message, new RegExp(`${format}|unexpected end|aci:`));
      return true;
    });
  });
}

test('a corrupted bzip2 block is refused with the format named', async () => {
  const bz = sh('bzip2', ['-c'], Buffer.alloc(100_000, 'abc'));
  bz[bz.length >> 1] ^= 0xff;
  await assert.rejects(collect(await decompressed(Readable.from([bz]))), /^UserError: invalid bzip2 data: /);
});

test('garbage that is not a tar is refused with a one-line error', async () => {
  await assert.rejects(readAci(Readable.from([Buffer.alloc(2048, 'x')])), (err: Error) => {
    assert.ok(err instanceof UserError);
    assert.match(err.message, /^aci: /);
    assert.doesNotMatch(err.message, /\n/);
    return true;
  });
});
