import assert from 'node:assert/strict';
import { readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { Store } from '../../src/store/store.ts';
import { killed, spawnChild, waitForLine } from './fixtures/child.ts';
import { imageTar, streamOf, tempDir } from './fixtures/images.ts';

async function appWithBase(store: Store) {
  const base = await store.writeAci(streamOf(await imageTar({ name: 'example.com/base', labels: { version: '1' }, files: { 'etc/os-release': 'base\n', 'bin/sh': 'base sh' } })));
  const app = await store.writeAci(
    streamOf(
      await imageTar({
        name: 'example.com/app',
        dependencies: [{ imageName: 'example.com/base', labels: { version: '1' } }],
        files: { 'bin/sh': 'app sh', 'app/run': 'run' },
      }),
    ),
  );
  return { base, app };
}

test('renderTree lays the dependency under the image, upper wins, and reuses the complete tree', async () => {
  const store = await Store.open(await tempDir('tree'));
  const { base, app } = await appWithBase(store);
  const tree = await store.renderTree(app.id);

  assert.match(tree.treeId, /^deps-[0-9a-f]{128}$/);
  assert.equal(tree.path, store.paths.tree(tree.treeId));
  assert.equal(await readFile(join(tree.path, 'rootfs/etc/os-release'), 'utf8'), 'base\n');
  assert.equal(await readFile(join(tree.path, 'rootfs/bin/sh'), 'utf8'), 'app sh');
  assert.equal(await readFile(join(tree.path, 'rootfs/app/run'), 'utf8'), 'run');
  assert.equal(JSON.parse(await readFile(join(tree.path, 'manifest'), 'utf8')).name, 'example.com/app');
  assert.equal(await readFile(join(tree.path, 'layers'), 'utf8'), `1 ${base.id}\n0 ${app.id}\n`);
  assert.match(await readFile(join(tree.path, '.complete'), 'utf8'), /^sha512-[0-9a-f]{128}$/);
  assert.deepEqual(await store.renderTree(app.id), tree);
  assert.deepEqual(await readdir(store.paths.tmpDir), []);
  assert.ok((await store.get(base.id))!.lastUsedAt > base.lastUsedAt);
  assert.deepEqual(await store.verify(), { blobsChecked: 2, treesChecked: 1, problems: [], leftovers: [] });
});

test('a missing dependency is a one-line error naming it and saying to fetch it', async () => {
  const store = await Store.open(await tempDir('tree'));
  const app = await store.writeAci(
    streamOf(await imageTar({ name: 'example.com/app', dependencies: [{ imageName: 'example.com/base', labels: { version: '9' } }] })),
  );
  await assert.rejects(store.renderTree(app.id), {
    message: 'render: example.com/app depends on example.com/base,version=9, which is not in the store: fetch it first',
  });
  assert.deepEqual(await readdir(store.paths.treeDir), []);
});

test('a dependency pinned by imageID must have the stated size', async () => {
  const store = await Store.open(await tempDir('tree'));
  const base = await store.writeAci(streamOf(await imageTar({ name: 'example.com/base' })));
  const app = await store.writeAci(
    streamOf(await imageTar({ name: 'example.com/app', dependencies: [{ imageName: 'example.com/base', imageID: base.id, size: base.size + 1 }] })),
  );
  await assert.rejects(store.renderTree(app.id), { message: new RegExp(`of ${base.size + 1} bytes, but the stored image has ${base.size}$`) });
});

test('verify finds a file changed in a rendered tree; repair removes the tree and a render makes it again', async () => {
  const store = await Store.open(await tempDir('tree'));
  const { app } = await appWithBase(store);
  const tree = await store.renderTree(app.id);
  await writeFile(join(tree.path, 'rootfs/app/run'), 'tampered');

  const report = await store.verify();
  assert.deepEqual(report.problems, [{ kind: 'tree', id: tree.treeId, problem: 'files differ from when the tree was rendered', removed: false }]);
  assert.equal((await store.verify({ repair: true })).problems[0]!.removed, true);
  assert.deepEqual(await readdir(store.paths.treeDir), []);
  const again = await store.renderTree(app.id);
  assert.equal(await readFile(join(again.path, 'rootfs/app/run'), 'utf8'), 'run');
  assert.deepEqual((await store.verify()).problems, []);
});

test('removing a dependency removes the trees rendered from it', async () => {
  const store = await Store.open(await tempDir('tree'));
  const { base, app } = await appWithBase(store);
  await store.renderTree(app.id);
  await store.remove(base.id);
  assert.deepEqual(await readdir(store.paths.treeDir), []);
  assert.deepEqual(await store.verify(), { blobsChecked: 1, treesChecked: 0, problems: [], leftovers: [] });
});

test('verify --repair leaves a damaged tree that a process is using, and says it did not remove it', async () => {
  const store = await Store.open(await tempDir('tree'));
  const { app } = await appWithBase(store);
  const tree = await store.renderTree(app.id);
  await writeFile(join(tree.path, 'rootfs/app/run'), 'tampered');
  const user = spawnChild(['hold', store.paths.treeLock(tree.treeId), 'shared']);
  try {
    await waitForLine(user, 'locked');
    assert.equal((await store.verify({ repair: true })).problems[0]!.removed, false);
    assert.deepEqual(await readdir(store.paths.treeDir), [tree.treeId]);
  } finally {
    await killed(user);
  }
});
