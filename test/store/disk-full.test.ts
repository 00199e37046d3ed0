import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { Store } from '../../src/store/store.ts';
import { gzipped, imageTar, streamOf } from './fixtures/images.ts';

const isRoot = process.getuid?.() === 0;

async function smallDisk(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'disk-full-'));
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', dir]);
  after(async () => {
    execFileSync('umount', [dir]);
    await rm(dir, { recursive: true });
  });
  return dir;
}

test('a full disk while storing is a one-line error, and nothing is half stored', { skip: !isRoot && 'needs root to mount a small tmpfs' }, async () => {
  const store = await Store.open(await smallDisk());
  const small = await store.writeAci(streamOf(await imageTar({ name: 'example.com/small' })));
  const big = await gzipped(await imageTar({ name: 'example.com/big', files: { noise: randomBytes(3 << 20) } }));

  await assert.rejects(store.writeAci(streamOf(big)), (err: Error) => {
    assert.match(err.message, /^store: cannot store the image in .*\/cas: no space left on the device: free some space \(`rkt image gc` removes unused images\) and try again$/);
    return true;
  });
  assert.deepEqual((await store.list()).map((r) => r.id), [small.id]);
  assert.deepEqual(await readdir(store.paths.tmpDir), []);
  assert.deepEqual(await store.verify(), { blobsChecked: 1, treesChecked: 0, problems: [], leftovers: [] });
});

test('a full disk while rendering is a one-line error, and no tree is left', { skip: !isRoot && 'needs root to mount a small tmpfs' }, async () => {
  const store = await Store.open(await smallDisk());
  // The uncompressed blob fits in 2 MB; the blob and its rendered tree together do not.
  const { id } = await store.writeAci(streamOf(await imageTar({ name: 'example.com/fat', files: { a: Buffer.alloc(1200 << 10, 1) } })));
  await assert.rejects(store.renderTree(id), { message: /^store: cannot render example.com\/fat in .*: no space left on the device/ });
  assert.deepEqual(await readdir(store.paths.treeDir), []);
  assert.deepEqual(await readdir(store.paths.tmpDir), []);
  assert.deepEqual((await store.verify()).problems, []);
});
