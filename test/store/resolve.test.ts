import assert from 'node:assert/strict';
import { test } from 'node:test';
import { imageIdOfBuffer } from '../../src/appc/image-id.ts';
import { Store } from '../../src/store/store.ts';
import { imageTar, streamOf, tempDir } from './fixtures/images.ts';

/** Two images whose IDs share the first two hex digits: made until they collide (about 20 tries). */
async function collidingPair(): Promise<[Buffer, Buffer]> {
  const seen = new Map<string, Buffer>();
  for (let i = 0; ; i++) {
    const tar = await imageTar({ name: 'example.com/collide', labels: { version: String(i) } });
    const shard = imageIdOfBuffer(tar).slice(0, 9);
    const other = seen.get(shard);
    if (other) return [other, tar];
    seen.set(shard, tar);
  }
}

test('a unique prefix of sha512- and two hex digits resolves; a whole ID and upper case do too', async () => {
  const store = await Store.open(await tempDir('resolve'));
  const { id } = await store.writeAci(streamOf(await imageTar({ name: 'example.com/one' })));
  assert.equal(await store.resolveId(id.slice(0, 9)), id);
  assert.equal(await store.resolveId(id), id);
  assert.equal(await store.resolveId(id.slice(0, 20).toUpperCase().replace('SHA512', 'sha512')), id);
});

test('prefixes shorter than sha512-xx, or not hex, are refused in one line', async () => {
  const store = await Store.open(await tempDir('resolve'));
  for (const bad of ['sha512-', 'sha512-a', 'abc', 'sha256-abcd', 'sha512-zz']) {
    await assert.rejects(store.resolveId(bad), (err: Error) => {
      assert.match(err.message, /too short or malformed: give "sha512-" and at least 2 hex digits$/);
      return true;
    });
  }
});

test('a prefix that matches nothing says so', async () => {
  const store = await Store.open(await tempDir('resolve'));
  const { id } = await store.writeAci(streamOf(await imageTar({ name: 'example.com/one' })));
  const absent = id.slice(0, 7) + (id[7] === 'f' ? '0' : 'f') + id.slice(8, 12);
  await assert.rejects(store.resolveId(absent), { message: new RegExp(`^no image in the store has an ID starting with ${absent}:`) });
});

test('an ambiguous prefix is an error listing the candidates; one more digit resolves', async () => {
  const store = await Store.open(await tempDir('resolve'));
  const [a, b] = await collidingPair();
  const idA = (await store.writeAci(streamOf(a))).id;
  const idB = (await store.writeAci(streamOf(b))).id;
  const prefix = idA.slice(0, 9);
  await assert.rejects(store.resolveId(prefix), (err: Error) => {
    assert.match(err.message, new RegExp(`^image ID ${prefix} is ambiguous, it matches sha512-[0-9a-f]{12,}, sha512-[0-9a-f]{12,}: give more digits$`));
    for (const id of [idA, idB]) assert.ok(err.message.includes(id.slice(0, 19)));
    return true;
  });
  const common = [...idA].findIndex((c, i) => c !== idB[i]);
  assert.equal(await store.resolveId(idA.slice(0, common + 1)), idA);
});
