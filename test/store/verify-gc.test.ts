import assert from 'node:assert/strict';
import { open, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { Store } from '../../src/store/store.ts';
import { killed, spawnChild, waitForLine } from './fixtures/child.ts';
import { gzipped, imageTar, streamOf, tempDir } from './fixtures/images.ts';

async function flipByte(path: string, at: number): Promise<void> {
  const handle = await open(path, 'r+');
  const byte = Buffer.alloc(1);
  await handle.read(byte, 0, 1, at);
  byte[0]! ^= 0xff;
  await handle.write(byte, 0, 1, at);
  await handle.close();
}

async function waitFor(what: () => Promise<boolean>, ms = 20_000): Promise<void> {
  for (const end = Date.now() + ms; !(await what()); ) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
}

test('verify reports a corrupted blob; repair removes the image and the next fetch stores it again', async () => {
  const store = await Store.open(await tempDir('verify'));
  const tar = await imageTar({ name: 'example.com/rot', files: { data: Buffer.alloc(100_000, 1) } });
  const { id } = await store.writeAci(streamOf(tar));
  await flipByte(store.blobPath(id), 50_000);

  const report = await store.verify();
  assert.deepEqual(report.problems, [{ kind: 'blob', id, problem: 'the blob does not hash to its ID', removed: false }]);
  assert.equal((await store.verify({ repair: true })).problems[0]!.removed, true);
  assert.equal(await store.get(id), undefined);
  assert.deepEqual(await store.verify(), { blobsChecked: 0, treesChecked: 0, problems: [], leftovers: [] });
  assert.equal((await store.writeAci(streamOf(tar))).id, id);
  assert.deepEqual((await store.verify()).problems, []);
});

test('verify reports a record whose blob is gone, and a damaged record', async () => {
  const store = await Store.open(await tempDir('verify'));
  const a = await store.writeAci(streamOf(await imageTar({ name: 'example.com/a' })));
  const b = await store.writeAci(streamOf(await imageTar({ name: 'example.com/b' })));
  await rm(store.blobPath(a.id));
  await writeFile(store.paths.record(b.id), '{"id": "sha');
  const { problems } = await store.verify({ repair: true });
  assert.deepEqual(
    problems.map((p) => [p.kind, p.id, p.problem, p.removed]).sort(),
    [
      ['index', a.id, 'the record has no blob', true],
      ['index', b.id, `store: the index record of ${b.id} is damaged (not JSON): run \`rkt image verify --repair\``, true],
    ].sort(),
  );
  assert.deepEqual((await store.verify()).problems, []);
  await store.gc();
  assert.deepEqual(await store.verify(), { blobsChecked: 0, treesChecked: 0, problems: [], leftovers: [] });
});

test('kill -9 of a fetch in the middle of writing leaves a store that verifies clean; gc takes the leftover, not a live one', async () => {
  const dir = await tempDir('kill');
  const aci = join(dir, 'big.aci');
  await writeFile(aci, await imageTar({ name: 'example.com/big', files: { big: Buffer.alloc(8 << 20, 3) } }));
  const store = await Store.open(join(dir, 'store'));
  const child = spawnChild(['slow', join(dir, 'store'), aci]);
  await waitFor(async () => (await readdir(store.paths.tmpDir)).length > 0);
  // While the writer lives, its temporary file is not gc's.
  assert.deepEqual((await store.gc()).removedLeftovers, []);
  assert.equal((await readdir(store.paths.tmpDir)).length, 1);
  await killed(child);

  const report = await store.verify();
  assert.deepEqual(report.problems, []);
  assert.equal(report.leftovers.length, 1);
  assert.match(report.leftovers[0]!, /^tmp\/blob-\d+-[0-9a-f]+$/);
  assert.deepEqual((await store.gc()).removedLeftovers, report.leftovers);
  assert.deepEqual(await store.verify(), { blobsChecked: 0, treesChecked: 0, problems: [], leftovers: [] });
});

test('kill -9 at random points of fetch, render and rm never leaves damage, and gc leaves nothing behind', async () => {
  const dir = await tempDir('churn');
  const aci = join(dir, 'image.aci');
  await writeFile(aci, await gzipped(await imageTar({ name: 'example.com/churn', files: Object.fromEntries(Array.from({ length: 200 }, (_, i) => [`f/${i}`, `file ${i}`])) })));
  const store = await Store.open(join(dir, 'store'));
  for (const delay of [700, 900, 1100, 1300, 1500, 1700]) {
    const child = spawnChild(['churn', join(dir, 'store'), aci]);
    await new Promise((r) => setTimeout(r, delay + Math.random() * 300));
    await killed(child);
    assert.deepEqual((await store.verify()).problems, [], `killed after ${delay} ms`);
  }
  await store.gc({ gracePeriodMs: 0 });
  assert.deepEqual(await store.verify(), { blobsChecked: 0, treesChecked: 0, problems: [], leftovers: [] });
  assert.deepEqual((await readdir(store.paths.locksDir)).sort(), ['index', 'tmp']);
});

test('gc removes images unused for the grace period and unreferenced trees, and spares the rest', async () => {
  const store = await Store.open(await tempDir('gc'));
  const old = await store.writeAci(streamOf(await imageTar({ name: 'example.com/old' })));
  const fresh = await store.writeAci(streamOf(await imageTar({ name: 'example.com/fresh' })));
  const pinned = await store.writeAci(streamOf(await imageTar({ name: 'example.com/pinned' })));
  const { treeId } = await store.renderTree(fresh.id);
  // Last used two days ago, as the record of an image fetched then would say.
  const twoDaysAgo = new Date(Date.now() - 48 * 3600_000).toISOString();
  for (const { id } of [old, pinned]) {
    await writeFile(store.paths.record(id), JSON.stringify({ ...(await store.get(id)), lastUsedAt: twoDaysAgo }));
  }

  const report = await store.gc({
    inUse: async () => ({ images: new Set([pinned.id]), trees: new Set() }),
  });
  assert.deepEqual(report.removedImages, [old.id]);
  assert.deepEqual(report.removedTrees, [treeId]);
  assert.deepEqual((await store.list()).map((r) => r.id).sort(), [fresh.id, pinned.id].sort());
  const twoDaysLater = new Date(Date.now() + 48 * 3600_000);
  assert.deepEqual((await store.gc({ now: twoDaysLater })).removedImages.sort(), [fresh.id, pinned.id].sort());
});

test('gc skips an image another process is reading', async () => {
  const store = await Store.open(await tempDir('gc'));
  const { id } = await store.writeAci(streamOf(await imageTar({ name: 'example.com/read' })));
  const holder = spawnChild(['hold', store.paths.imageLock(id), 'shared']);
  try {
    await waitForLine(holder, 'locked');
    assert.deepEqual((await store.gc({ gracePeriodMs: 0 })).removedImages, []);
  } finally {
    await killed(holder);
  }
  assert.deepEqual((await store.gc({ gracePeriodMs: 0 })).removedImages, [id]);
});
