import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { imageIdHasher, imageIdOfBuffer, isImageId, IMAGE_ID_PREFIX } from '../../src/appc/image-id.ts';
import { collect } from './fixtures/aci-layout.ts';

const sha512sum = (buf: Buffer): string => execFileSync('sha512sum', { input: buf }).toString().split(' ')[0]!;

test('imageIdOfBuffer is sha512- and what sha512sum prints', () => {
  const data = Buffer.from('some tar bytes\n');
  assert.equal(imageIdOfBuffer(data), IMAGE_ID_PREFIX + sha512sum(data));
});

test('imageIdHasher passes bytes through unchanged and hashes them', async () => {
  const data = Buffer.alloc(300_000, 7);
  const hasher = imageIdHasher();
  const out = collect(hasher.stream);
  await pipeline(Readable.from([data.subarray(0, 1000), data.subarray(1000)]), hasher.stream);
  assert.deepEqual(await out, data);
  assert.equal(hasher.imageId(), `sha512-${sha512sum(data)}`);
});

test('imageIdHasher refuses to give an ID before the stream ended', () => {
  const hasher = imageIdHasher();
  hasher.stream.write(Buffer.from('partial'));
  assert.throws(() => hasher.imageId(), /before the tar ended/);
});

test('isImageId accepts only the full sha512 form', () => {
  const full = imageIdOfBuffer(Buffer.from('x'));
  assert.equal(isImageId(full), true);
  assert.equal(isImageId(full.slice(0, 20)), false);
  assert.equal(isImageId(full.toUpperCase().replace('SHA512', 'sha512')), false);
  assert.equal(isImageId(full.replace('sha512-', 'sha256-')), false);
  assert.equal(isImageId(`${full}0`), false);
});
