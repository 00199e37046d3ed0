import assert from 'node:assert/strict';
import { readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { Store } from '../../src/store/store.ts';
import { runChild } from './fixtures/child.ts';
import { gzipped, imageTar, streamOf, tempDir } from './fixtures/images.ts';

test('twenty processes fetching the same image at once end with one copy and no error', async () => {
  const dir = await tempDir('concurrent');
  const aci = join(dir, 'image.aci');
  await writeFile(aci, await gzipped(await imageTar({ name: 'example.com/popular', files: { 'data': Buffer.alloc(2 << 20, 7) } })));
  const results = await Promise.all(Array.from({ length: 20 }, () => runChild(['write', join(dir, 'store'), aci])));

  for (const r of results) assert.equal(r.code, 0, r.stderr);
  const ids = new Set(results.map((r) => (JSON.parse(r.stdout) as { id: string }).id));
  assert.equal(ids.size, 1);
  const store = await Store.open(join(dir, 'store'));
  const [id] = ids;
  assert.deepEqual((await store.list()).map((r) => r.id), [id]);
  const shards = await readdir(store.paths.blobRoot);
  assert.equal(shards.length, 1);
  assert.deepEqual(await readdir(join(store.paths.blobRoot, shards[0]!)), [id]);
  assert.deepEqual(await readdir(store.paths.tmpDir), []);
  assert.deepEqual((await store.verify()).problems, []);
});

test('concurrent renders of one image in one process make one tree', async () => {
  const store = await Store.open(await tempDir('concurrent'));
  const { id } = await store.writeAci(streamOf(await imageTar({ name: 'example.com/r', files: { a: 'a' } })));
  const trees = await Promise.all(Array.from({ length: 5 }, () => store.renderTree(id)));
  assert.equal(new Set(trees.map((t) => t.treeId)).size, 1);
  assert.deepEqual(await readdir(store.paths.treeDir), [trees[0]!.treeId]);
  assert.deepEqual(await readdir(store.paths.tmpDir), []);
});
