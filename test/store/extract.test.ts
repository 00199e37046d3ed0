import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmod, chown, lstat, mkdir, readFile, readdir, readlink, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { planRender } from '../../src/appc/render.ts';
import { extractLayers } from '../../src/store/extract.ts';
import { scanLayer } from '../../src/store/extract-scan.ts';
import { MTIME, NOT_ROOT, aciTar, isRoot, layer, manifestOf, tempDir, type Member } from './fixtures/aci-tar.ts';

/** Every path under `dir`, relative, sorted. */
async function tree(dir: string): Promise<string[]> {
  return (await readdir(dir, { recursive: true })).sort();
}

// setpriv resolves these names; Debian gives them these ids.
const [NOBODY, NOGROUP] = [65534, 65534];

const modeOf = async (path: string) => (await lstat(path)).mode & 0o7777;

test('an image on a dependency renders upper-wins with whitelists, exactly as planRender plans it', async () => {
  const base = aciTar('example.com/base', [
    { path: 'rootfs/etc', type: 'directory', mode: 0o750 },
    { path: 'rootfs/etc/os-release', content: 'base' },
    { path: 'rootfs/etc/hosts', content: 'base hosts' },
    { path: 'rootfs/usr/bin/tool', content: 'filtered by the app' },
    { path: 'rootfs/tmp', type: 'directory', mode: 0o1777 },
  ]);
  const app = aciTar('example.com/app', [
    { path: 'rootfs/etc/hosts', content: 'app hosts' },
    { path: 'rootfs/tmp/x', content: 'x' },
  ]);
  const layers = [layer('base', 1, base), layer('app', 0, app, ['/etc/hosts', '/etc/os-release', '/tmp/x'])];
  const dest = join(await tempDir('extract-deps'), 'tree');
  await extractLayers(layers, dest);

  const rootfs = join(dest, 'rootfs');
  assert.equal(await readFile(join(rootfs, 'etc/hosts'), 'utf8'), 'app hosts');
  assert.equal(await readFile(join(rootfs, 'etc/os-release'), 'utf8'), 'base');
  assert.equal(await modeOf(join(rootfs, 'etc')), 0o750, 'a lower directory keeps its mode under an upper whitelist');
  assert.equal(await modeOf(join(rootfs, 'tmp')), 0o1777);
  assert.equal(await readFile(join(dest, 'manifest'), 'utf8'), manifestOf('example.com/app'));
  assert.deepEqual(await readdir(dest), ['manifest', 'rootfs']);

  const plan = planRender(
    await Promise.all(layers.map(async (l) => ({ ...l, entries: (await scanLayer(await l.open())).entries }))),
  );
  const planned = [...plan.entries.map((e) => e.path), ...plan.implicitDirs].sort();
  assert.deepEqual(await tree(rootfs), planned);
  assert.ok(!planned.includes('usr/bin/tool'), 'the whitelist left something out');
});

test('modes, mtimes and owners are applied; a read-only directory still receives its files', async (t) => {
  const tar = aciTar('example.com/meta', [
    { path: 'rootfs/ro', type: 'directory', mode: 0o555, mtime: 1000 },
    { path: 'rootfs/ro/file', content: 'inside a read-only dir', mode: 0o440, mtime: 2000, uid: 1234, gid: 5678 },
    { path: 'rootfs/bin', type: 'directory', uid: 42, gid: 43 },
    { path: 'rootfs/bin/su', content: '#!', mode: 0o4755, uid: 0, gid: 0 },
    { path: 'rootfs/bin/wall', content: '#!', mode: 0o2755, uid: 0, gid: 5 },
  ]);
  const dest = join(await tempDir('extract-meta'), 'tree');
  await extractLayers([layer('meta', 0, tar)], dest);
  const at = (p: string) => join(dest, 'rootfs', p);

  const ro = await lstat(at('ro'));
  assert.equal(ro.mode & 0o7777, 0o555);
  assert.equal(ro.mtimeMs, 1000_000, 'the directory mtime is set after its children were written');
  const file = await lstat(at('ro/file'));
  assert.equal(file.mode & 0o7777, 0o440);
  assert.equal(file.mtimeMs, 2000_000);
  assert.equal(await readFile(at('ro/file'), 'utf8'), 'inside a read-only dir');
  assert.equal((await lstat(at('bin'))).mtimeMs, MTIME * 1000);
  if (!isRoot) return t.skip(NOT_ROOT);
  assert.deepEqual([file.uid, file.gid], [1234, 5678]);
  const bin = await lstat(at('bin'));
  assert.deepEqual([bin.uid, bin.gid], [42, 43]);
  assert.equal(await modeOf(at('bin/su')), 0o4755, 'setuid survives chown as root');
  assert.equal(await modeOf(at('bin/wall')), 0o2755);
});

test('symlinks are made verbatim, absolute and dangling ones included, and keep their mtimes', async () => {
  const tar = aciTar('example.com/links', [
    { path: 'rootfs/bin', type: 'directory' },
    { path: 'rootfs/bin/busybox', content: 'bb', mode: 0o755 },
    { path: 'rootfs/bin/sh', type: 'symlink', linkname: 'busybox', mtime: 3000 },
    { path: 'rootfs/lib', type: 'symlink', linkname: '/usr/lib' },
    { path: 'rootfs/dangling', type: 'symlink', linkname: '../../../nowhere' },
  ]);
  const dest = join(await tempDir('extract-symlinks'), 'tree');
  await extractLayers([layer('links', 0, tar)], dest);
  const at = (p: string) => join(dest, 'rootfs', p);
  assert.equal(await readlink(at('bin/sh')), 'busybox');
  assert.equal(await readlink(at('lib')), '/usr/lib');
  assert.equal(await readlink(at('dangling')), '../../../nowhere');
  assert.equal((await lstat(at('bin/sh'))).mtimeMs, 3000_000);
});

test('hard links share an inode, also when an upper layer took the path they pointed to', async () => {
  const lower = aciTar('example.com/lower', [
    { path: 'rootfs/bin', type: 'directory' },
    { path: 'rootfs/bin/busybox', content: 'lower busybox', mode: 0o755 },
    { path: 'rootfs/bin/ls', type: 'link', linkname: 'rootfs/bin/busybox' },
    { path: 'rootfs/bin/cat', type: 'link', linkname: 'rootfs/bin/busybox' },
  ]);
  const upper = aciTar('example.com/upper', [{ path: 'rootfs/bin/busybox', content: 'upper busybox' }]);
  const dest = join(await tempDir('extract-hardlinks'), 'tree');
  await extractLayers([layer('lower', 1, lower), layer('upper', 0, upper)], dest);
  const at = (p: string) => join(dest, 'rootfs', p);
  assert.equal(await readFile(at('bin/busybox'), 'utf8'), 'upper busybox');
  assert.equal(await readFile(at('bin/ls'), 'utf8'), 'lower busybox');
  const [ls, cat] = [await lstat(at('bin/ls')), await lstat(at('bin/cat'))];
  assert.equal(ls.ino, cat.ino);
  assert.equal(ls.nlink, 2);
  assert.notEqual(ls.ino, (await lstat(at('bin/busybox'))).ino);
});

const withDevice: Member[] = [
  { path: 'rootfs/dev', type: 'directory' },
  { path: 'rootfs/dev/null', type: 'character-device', devmajor: 1, devminor: 3, mode: 0o666 },
  { path: 'rootfs/dev/null2', type: 'link', linkname: 'rootfs/dev/null' },
  { path: 'rootfs/run', type: 'directory' },
  { path: 'rootfs/run/initctl', type: 'fifo', mode: 0o600, mtime: 4000 },
];

test('FIFOs are made; device nodes are skipped by default and reported, hard links to them too', async () => {
  const dest = join(await tempDir('extract-nodev'), 'tree');
  const report = await extractLayers([layer('dev', 0, aciTar('example.com/dev', withDevice))], dest);
  assert.deepEqual(report, { skippedDevices: 2, skippedXattrs: 0 });
  assert.deepEqual(await readdir(join(dest, 'rootfs/dev')), []);
  const fifo = await lstat(join(dest, 'rootfs/run/initctl'));
  assert.ok(fifo.isFIFO());
  assert.equal(fifo.mode & 0o7777, 0o600);
  assert.equal(fifo.mtimeMs, 4000_000);
});

test('device nodes are made as root when asked, with FFI or (RKT_FFI=off) mknod(1)', async (t) => {
  if (!isRoot) return t.skip(NOT_ROOT);
  const dest = join(await tempDir('extract-dev'), 'tree');
  const report = await extractLayers([layer('dev', 0, aciTar('example.com/dev', withDevice))], dest, { devices: true });
  assert.equal(report.skippedDevices, 0);
  const made = await lstat(join(dest, 'rootfs/dev/null'));
  const host = await lstat('/dev/null');
  assert.ok(made.isCharacterDevice());
  assert.equal(made.rdev, host.rdev);
  assert.equal(made.mode & 0o7777, 0o666, 'the mode is set past the umask');
  assert.equal((await lstat(join(dest, 'rootfs/dev/null2'))).ino, made.ino);
});

test('rootfsOnly puts the rootfs contents straight into dest, with the rootfs mode and no manifest', async () => {
  const tar = aciTar('example.com/only', [{ path: 'rootfs/hello', content: 'hi' }]);
  const dest = await tempDir('extract-rootfs-only');
  await extractLayers([layer('only', 0, tar)], dest, { rootfsOnly: true });
  assert.deepEqual(await readdir(dest), ['hello']);
  assert.equal(await modeOf(dest), 0o755);
  assert.equal((await lstat(dest)).mtimeMs, MTIME * 1000);
});

test('xattrs are counted as not applied', async () => {
  const tar = aciTar('example.com/xattr', [{ path: 'rootfs/ping', content: 'x', xattrs: { 'user.note': 'hi' } }]);
  const dest = join(await tempDir('extract-xattr'), 'tree');
  assert.deepEqual(await extractLayers([layer('x', 0, tar)], dest), { skippedDevices: 0, skippedXattrs: 1 });
});

test('a dest that is not empty, or not a directory, is refused before anything is written', async () => {
  const tar = aciTar('example.com/x', [{ path: 'rootfs/a', content: 'a' }]);
  const dir = await tempDir('extract-dest');
  await mkdir(join(dir, 'full'));
  await writeFile(join(dir, 'full/keep'), 'mine');
  await assert.rejects(extractLayers([layer('x', 0, tar)], join(dir, 'full')), /^UserError: extract: .*full is not empty$/);
  assert.deepEqual(await readdir(join(dir, 'full')), ['keep']);
  await writeFile(join(dir, 'file'), '');
  await assert.rejects(extractLayers([layer('x', 0, tar)], join(dir, 'file')), /file exists and is not a directory$/);
  await mkdir(join(dir, 'empty'));
  await symlink(join(dir, 'empty'), join(dir, 'link'));
  await assert.rejects(extractLayers([layer('x', 0, tar)], join(dir, 'link')), /link exists and is not a directory$/);
  assert.deepEqual(await readdir(join(dir, 'empty')), []);
});

test('an image whose bytes change between the two passes is refused', async () => {
  const first = aciTar('example.com/x', [{ path: 'rootfs/a', content: 'planned' }]);
  const second = aciTar('example.com/x', [{ path: 'rootfs/a', content: 'swapped' }]);
  let opened = 0;
  const changing = { id: 'sha512-x', depth: 0, pathWhitelist: [], open: async () => Readable.from([opened++ === 0 ? first : second]) };
  const dest = join(await tempDir('extract-changed'), 'tree');
  await assert.rejects(extractLayers([changing], dest), /^UserError: extract: image sha512-x changed while it was being extracted$/);
});

test('as an unprivileged user: files stay ours, setuid and setgid are dropped, devices are skipped', async (t) => {
  if (!isRoot) return t.skip(NOT_ROOT);
  const dir = await tempDir('extract-as-user');
  await chmod(dir, 0o755);
  const tar = aciTar('example.com/user', [
    { path: 'rootfs/bin', type: 'directory', mode: 0o555 },
    { path: 'rootfs/bin/su', content: '#!', mode: 0o4755, uid: 0, gid: 0 },
    { path: 'rootfs/bin/wall', content: '#!', mode: 0o2755, uid: 0, gid: 5 },
    { path: 'rootfs/tmp', type: 'directory', mode: 0o1777 },
    ...withDevice,
  ]);
  await writeFile(join(dir, 'user.aci'), tar);
  const work = join(dir, 'work');
  await mkdir(work);
  await chown(work, NOBODY, NOGROUP);
  const out = execFileSync(
    'setpriv',
    ['--reuid=nobody', '--regid=nogroup', '--clear-groups', process.execPath, '--import', 'tsx', 'test/store/fixtures/extract-as-user.ts', join(dir, 'user.aci'), join(work, 'tree')],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] },
  );
  assert.deepEqual(JSON.parse(out), { skippedDevices: 2, skippedXattrs: 0 });
  const at = (p: string) => join(work, 'tree/rootfs', p);
  const su = await lstat(at('bin/su'));
  assert.deepEqual([su.uid, su.gid, su.mode & 0o7777], [NOBODY, NOGROUP, 0o755]);
  assert.equal(await modeOf(at('bin/wall')), 0o755);
  assert.equal(await modeOf(at('bin')), 0o555);
  assert.equal(await modeOf(at('tmp')), 0o1777, 'the sticky bit is kept');
  assert.ok((await lstat(at('run/initctl'))).isFIFO());
});
