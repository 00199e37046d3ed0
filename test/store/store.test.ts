import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { buffer } from 'node:stream/consumers';
import { test } from 'node:test';
import { imageIdOfBuffer } from '../../src/appc/image-id.ts';
import { ImageNotStoredError, Store } from '../../src/store/store.ts';
import { gzipped, imageTar, streamOf, tempDir } from './fixtures/images.ts';

test('an ACI gzipped by parallelGzip is stored uncompressed under its ID, with record and manifest', async () => {
  const store = await Store.open(await tempDir('store'));
  const tar = await imageTar({ name: 'example.com/hello', labels: { version: '1.0', os: 'linux', arch: 'armv6l' }, files: { 'bin/hello': 'hi' } });
  const record = await store.writeAci(streamOf(await gzipped(tar)));

  assert.equal(record.id, imageIdOfBuffer(tar));
  assert.equal(record.name, 'example.com/hello');
  assert.deepEqual(record.labels, [
    { name: 'version', value: '1.0' },
    { name: 'os', value: 'linux' },
    { name: 'arch', value: 'armv6l' },
  ]);
  assert.equal(record.size, tar.length);
  assert.ok((await readFile(store.blobPath(record.id))).equals(tar));
  assert.ok(store.blobPath(record.id).endsWith(`/cas/blob/sha512/${record.id.slice(7, 9)}/${record.id}`));
  assert.ok((await buffer(await store.openBlob(record.id))).equals(tar));
  assert.equal((await store.manifest(record.id)).name, 'example.com/hello');
  assert.deepEqual(await store.get(record.id), record);
  assert.deepEqual(await store.list(), [record]);
  assert.deepEqual(await readdir(store.paths.tmpDir), []);
});

test('an ACI compressed by system gzip and an uncompressed one are stored alike', async () => {
  const dir = await tempDir('store');
  const store = await Store.open(dir);
  const tar = await imageTar({ name: 'example.com/plain' });
  await writeFile(join(dir, 'image.aci'), tar);
  execFileSync('gzip', ['-k', join(dir, 'image.aci')]);
  const fromGzip = await store.writeAci(streamOf(await readFile(join(dir, 'image.aci.gz'))));
  const fromPlain = await store.writeAci(streamOf(tar));
  assert.equal(fromGzip.id, imageIdOfBuffer(tar));
  assert.equal(fromPlain.id, fromGzip.id);
});

test('storing an image twice keeps one copy and the newer remote info', async () => {
  const store = await Store.open(await tempDir('store'));
  const tar = await imageTar({ name: 'example.com/twice' });
  const first = await store.writeAci(streamOf(tar), { remote: { url: 'https://a/x.aci', etag: '"1"', downloadedAt: '2024-01-01T00:00:00Z' } });
  const remote = { url: 'https://a/x.aci', etag: '"2"', maxAge: 60, downloadedAt: '2024-01-02T00:00:00Z' };
  const second = await store.writeAci(streamOf(await gzipped(tar)), { remote });
  assert.equal(second.id, first.id);
  assert.equal(second.importedAt, first.importedAt);
  assert.deepEqual(second.remote, remote);
  assert.deepEqual((await store.get(first.id))?.remote, remote);
  assert.equal((await store.list()).length, 1);
  assert.deepEqual(await readdir(store.paths.tmpDir), []);
});

test('an archive that is not an image is refused and nothing is stored', async () => {
  const store = await Store.open(await tempDir('store'));
  await assert.rejects(store.writeAci(streamOf(Buffer.from('not a tar at all, not even close'.repeat(40)))), /aci:/);
  assert.deepEqual(await store.list(), []);
  assert.deepEqual(await readdir(store.paths.tmpDir), []);
  assert.deepEqual(await readdir(store.paths.blobRoot), []);
});

test('findByName matches every given label, newest import first', async () => {
  const store = await Store.open(await tempDir('store'));
  const v1 = await store.writeAci(streamOf(await imageTar({ name: 'example.com/app', labels: { version: '1', arch: 'aarch64', os: 'linux' } })));
  const v2 = await store.writeAci(streamOf(await imageTar({ name: 'example.com/app', labels: { version: '2', arch: 'aarch64', os: 'linux' } })));
  await store.writeAci(streamOf(await imageTar({ name: 'example.com/other', labels: { version: '1' } })));
  assert.deepEqual((await store.findByName('example.com/app')).map((r) => r.id), [v2.id, v1.id]);
  assert.deepEqual((await store.findByName('example.com/app', { version: '1' })).map((r) => r.id), [v1.id]);
  assert.deepEqual(await store.findByName('example.com/app', { version: '1', arch: 'armv7l' }), []);
});

test('markUsed and updateRemote change the record; on an absent image they say it is not stored', async () => {
  const store = await Store.open(await tempDir('store'));
  const record = await store.writeAci(streamOf(await imageTar({ name: 'example.com/used' })));
  await new Promise((r) => setTimeout(r, 5));
  await store.markUsed(record.id);
  assert.ok((await store.get(record.id))!.lastUsedAt > record.lastUsedAt);
  await store.updateRemote(record.id, { url: 'file:///x', downloadedAt: '2024-01-01T00:00:00Z' });
  assert.equal((await store.get(record.id))!.remote?.url, 'file:///x');
  const absent = `sha512-${'0'.repeat(128)}`;
  await assert.rejects(store.markUsed(absent), ImageNotStoredError);
  await assert.rejects(store.updateRemote(absent, { url: 'x', downloadedAt: 'y' }), ImageNotStoredError);
});

test('a store marks an image used once (a run fetches and renders it), a new store again', async () => {
  const dir = await tempDir('store');
  const store = await Store.open(dir);
  const record = await store.writeAci(streamOf(await imageTar({ name: 'example.com/used-once' })));
  const marked = async (s: Store) => {
    await new Promise((r) => setTimeout(r, 5));
    await s.markUsed(record.id);
    return (await s.get(record.id))!.lastUsedAt;
  };
  const first = await marked(store);
  assert.ok(first > record.lastUsedAt);
  assert.equal(await marked(store), first);
  assert.ok((await marked(await Store.open(dir))) > first);
});

test('remove deletes blob, manifest and record; removing again says the image is not stored', async () => {
  const store = await Store.open(await tempDir('store'));
  const { id } = await store.writeAci(streamOf(await imageTar({ name: 'example.com/gone' })));
  await store.remove(id);
  assert.equal(await store.get(id), undefined);
  await assert.rejects(readFile(store.blobPath(id)), { code: 'ENOENT' });
  await assert.rejects(store.manifest(id), ImageNotStoredError);
  await assert.rejects(store.remove(id), (err: Error) => err instanceof ImageNotStoredError && !err.message.includes('\n'));
});

test('opening a store where a file is in the way is a one-line error saying what to do', async () => {
  const dir = await tempDir('store');
  await writeFile(join(dir, 'file'), '');
  await assert.rejects(Store.open(join(dir, 'file')), (err: Error) => {
    assert.match(err.message, /^store: cannot open the store in .*file: a part of the path is not a directory: pass --dir a directory$/);
    return true;
  });
});
