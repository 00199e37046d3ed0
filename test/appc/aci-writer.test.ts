import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmod, chown, mkdir, symlink, utimes, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { readAci } from '../../src/appc/aci-reader.ts';
import { packAci } from '../../src/appc/aci-writer.ts';
import { UserError } from '../../src/util/errors.ts';
import { MANIFEST, collect, makeLayout, tempDir } from './fixtures/aci-layout.ts';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const isRoot = process.getuid?.() === 0;

const read = async (tar: Buffer) => readAci(Readable.from([tar]));

test('packing the same tree twice gives byte-identical tars, sorted bytewise', async () => {
  const dir = await makeLayout(await tempDir('aci-det'), {
    'b/x': 'x',
    'a-b': 'dash',
    'a/z': 'z',
    'a/y': 'y',
    'Z': 'upper',
    'é': 'accent',
  });
  const first = await collect(packAci(dir, { sourceDateEpoch: 1_600_000_000 }));
  const second = await collect(packAci(dir, { sourceDateEpoch: 1_600_000_000 }));
  assert.ok(first.equals(second));
  const paths = (await read(first)).entries.map((e) => e.path);
  assert.deepEqual(paths, ['manifest', 'rootfs', 'rootfs/Z', 'rootfs/a', 'rootfs/a-b', 'rootfs/a/y', 'rootfs/a/z', 'rootfs/b', 'rootfs/b/x', 'rootfs/é']);
  assert.equal(first.length % 512, 0);
});

test('SOURCE_DATE_EPOCH clamps newer mtimes and keeps older ones', async () => {
  const dir = await makeLayout(await tempDir('aci-epoch'), { old: 'o', new: 'n' });
  await utimes(join(dir, 'rootfs', 'old'), 1_000_000_000, 1_000_000_000);
  await utimes(join(dir, 'rootfs', 'new'), 2_000_000_000, 2_000_000_000);
  const epoch = 1_500_000_000;
  const { entries } = await read(await collect(packAci(dir, { sourceDateEpoch: epoch })));
  const mtime = (p: string) => entries.find((e) => e.path === p)?.mtime;
  assert.equal(mtime('rootfs/old'), 1_000_000_000);
  assert.equal(mtime('rootfs/new'), epoch);
  assert.ok(entries.every((e) => e.mtime <= epoch));
  const unclamped = await read(await collect(packAci(dir)));
  assert.equal(unclamped.entries.find((e) => e.path === 'rootfs/new')?.mtime, 2_000_000_000);
});

test('ownerRoot gives 0:0 when packing as the unprivileged user nobody', { skip: !isRoot && 'needs root to switch to nobody' }, async () => {
  const base = await tempDir('aci-nobody');
  await chmod(base, 0o755);
  const dir = await makeLayout(base, { 'etc/conf': 'c', 'bin/app': 'a' });
  execFileSync('chown', ['-R', 'nobody:nogroup', dir]);
  const packAs = (opts: object): Buffer =>
    execFileSync(
      'setpriv',
      ['--reuid=nobody', '--regid=nogroup', '--clear-groups', 'node', '--import', 'tsx', 'test/appc/fixtures/pack-as-user.ts', dir, JSON.stringify(opts)],
      { cwd: REPO, maxBuffer: 1 << 26 },
    );
  const asOwner = await read(packAs({}));
  assert.ok(asOwner.entries.every((e) => e.uid === 65534 && e.gid === 65534), 'without ownerRoot the files keep their owner');
  const tar = packAs({ ownerRoot: true });
  const { entries } = await read(tar);
  assert.ok(entries.every((e) => e.uid === 0 && e.gid === 0));
  const listing = execFileSync('tar', ['tvf', '-', '--numeric-owner'], { input: tar }).toString().trim().split('\n');
  assert.equal(listing.length, entries.length);
  for (const line of listing) assert.match(line, /^\S+ 0\/0 /);
});

test('owner gives every entry the given uid and gid, even ones too big for ustar', async () => {
  const dir = await makeLayout(await tempDir('aci-owner'), { f: 'x' });
  const tar = await collect(packAci(dir, { owner: { uid: 3_000_000, gid: 1234 } }));
  const { entries } = await read(tar);
  assert.ok(entries.every((e) => e.uid === 3_000_000 && e.gid === 1234));
  const listing = execFileSync('tar', ['tvf', '-', '--numeric-owner'], { input: tar }).toString();
  assert.match(listing, /3000000\/1234 .* rootfs\/f\n/);
});

test('manifestBytes replace the layout manifest, which may then be absent', async () => {
  const dir = await tempDir('aci-manifest-bytes');
  await mkdir(join(dir, 'rootfs'));
  const bytes = Buffer.from(MANIFEST.replace('example.com/test', 'example.com/other'));
  const { manifest, manifestBytes } = await read(await collect(packAci(dir, { manifestBytes: bytes })));
  assert.equal(manifest.name, 'example.com/other');
  assert.ok(manifestBytes.equals(bytes));
});

async function packRefused(dir: string, message: RegExp): Promise<void> {
  await assert.rejects(collect(packAci(dir)), (err: Error) => {
    assert.ok(err instanceof UserError, `${err.stack}`);
    assert.match(err.message, message);
    assert.doesNotMatch(err.message, /\n/);
    return true;
  });
}

test('a layout with anything beside manifest and rootfs is refused', async () => {
  const dir = await makeLayout(await tempDir('aci-extra'));
  await writeFile(join(dir, 'notes.txt'), 'x');
  await packRefused(dir, /^layout: unexpected "notes.txt" in .*: only manifest and rootfs belong there$/);
});

test('a layout without a manifest, or with rootfs as a symlink, is refused', async () => {
  const noManifest = await tempDir('aci-nomanifest');
  await mkdir(join(noManifest, 'rootfs'));
  await packRefused(noManifest, /^layout: .* has no manifest$/);
  const linked = await tempDir('aci-linked-rootfs');
  await writeFile(join(linked, 'manifest'), MANIFEST);
  await symlink('/', join(linked, 'rootfs'));
  await packRefused(linked, /^layout: .* has no rootfs directory$/);
});

test('a socket in rootfs is refused, since a tar cannot hold it', async () => {
  const dir = await makeLayout(await tempDir('aci-socket'));
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(join(dir, 'rootfs', 'sock'), resolve));
  try {
    await packRefused(dir, /^aci: "rootfs\/sock" is a socket, which an image cannot hold$/);
  } finally {
    server.close();
  }
});

test('hard links become link entries to the first name in archive order', async () => {
  const dir = await makeLayout(await tempDir('aci-hardlink'), { 'z/original': 'shared' });
  execFileSync('ln', [join(dir, 'rootfs', 'z', 'original'), join(dir, 'rootfs', 'a-link')]);
  const { entries } = await read(await collect(packAci(dir)));
  const byPath = new Map(entries.map((e) => [e.path, e]));
  assert.equal(byPath.get('rootfs/a-link')?.type, 'file');
  assert.equal(byPath.get('rootfs/a-link')?.size, 6);
  assert.deepEqual([byPath.get('rootfs/z/original')?.type, byPath.get('rootfs/z/original')?.linkname], ['link', 'rootfs/a-link']);
});

test('a file owned by someone else keeps its ids without ownerRoot', { skip: !isRoot && 'needs root to chown' }, async () => {
  const dir = await makeLayout(await tempDir('aci-ids'), { f: 'x' });
  await chown(join(dir, 'rootfs', 'f'), 4321, 8765);
  const { entries } = await read(await collect(packAci(dir)));
  const f = entries.find((e) => e.path === 'rootfs/f');
  assert.deepEqual([f?.uid, f?.gid], [4321, 8765]);
});
