import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pack, type Header } from 'tar-stream';
import { readDeb } from '../../src/debian/deb.ts';
import { UserError } from '../../src/util/errors.ts';
import { collect, tempDir } from '../appc/fixtures/aci-layout.ts';

// .debs put together by hand, as an attacker would (GNU ar around tars from tar-stream),
// each replaying one trick on whoever extracts data.tar.

type Member = Partial<Header> & { name: string; content?: string };

async function tarOf(members: Member[]): Promise<Buffer> {
  const p = pack();
  const out = collect(p as unknown as Readable);
  for (const { content, ...header } of members) {
    await new Promise<void>((resolve, reject) => p.entry({ mtime: new Date(0), ...header }, content ?? '', (err) => (err ? reject(err) : resolve())));
  }
  p.finalize();
  return out;
}

const CONTROL = 'Package: evil\nVersion: 1\nArchitecture: armhf\nMaintainer: x <x@example.com>\nDescription: evil\n';

async function debOf(data: Member[], parts: { version?: string; dataName?: string; dataBytes?: Buffer } = {}): Promise<string> {
  const dir = await tempDir('deb-hostile');
  const dataName = parts.dataName ?? 'data.tar';
  await writeFile(join(dir, 'debian-binary'), parts.version ?? '2.0\n');
  await writeFile(join(dir, 'control.tar'), await tarOf([{ name: './', type: 'directory' }, { name: './control', content: CONTROL }]));
  await writeFile(join(dir, dataName), parts.dataBytes ?? (await tarOf([{ name: './', type: 'directory' }, ...data])));
  const deb = join(dir, 'evil.deb');
  execFileSync('ar', ['rc', deb, 'debian-binary', 'control.tar', dataName], { cwd: dir });
  return deb;
}

async function refused(deb: string, message: RegExp): Promise<void> {
  const seen: string[] = [];
  await assert.rejects(
    readDeb(deb, async (e) => void seen.push(e.path)),
    (err: Error) => {
      assert.ok(err instanceof UserError, `expected a UserError, got ${err.stack}`);
      assert.doesNotMatch(err.message, /\n/);
      assert.match(err.message, message);
      return true;
    },
  );
}

test('reads a hand-made .deb (GNU ar names, an uncompressed data.tar)', async () => {
  const deb = await debOf([{ name: './etc/', type: 'directory' }, { name: './etc/motd', content: 'hi' }]);
  const seen: string[] = [];
  const { control } = await readDeb(deb, async (e) => void seen.push(e.path));
  assert.equal(control['package'], 'evil');
  assert.deepEqual(seen, ['etc', 'etc/motd']);
});

test('reads a data.tar.bz2, which dpkg still reads though it no longer writes it', async () => {
  const data = await tarOf([{ name: './', type: 'directory' }, { name: './motd', content: 'hi' }]);
  const deb = await debOf([], { dataName: 'data.tar.bz2', dataBytes: execFileSync('bzip2', ['-c'], { input: data }) });
  const seen: string[] = [];
  await readDeb(deb, async (e) => void seen.push(e.path));
  assert.deepEqual(seen, ['motd']);
});

test('refuses ./../../etc/cron.d/x traversal', async () => {
  await refused(await debOf([{ name: './../../etc/cron.d/x', content: '* * * * * root sh' }]), /^deb: .*evil\.deb: entry "\.\/\.\.\/\.\.\/etc\/cron\.d\/x" escapes the image root$/);
});

test('refuses an absolute /etc/passwd entry', async () => {
  await refused(await debOf([{ name: '/etc/passwd', content: 'root::0:0::/:/bin/sh' }]), /: entry "\/etc\/passwd" is an absolute path$/);
});

test('refuses a hard link to ../../etc/shadow', async () => {
  await refused(await debOf([{ name: './shadow', type: 'link', linkname: '../../etc/shadow' }]), /: hard link "shadow" points to "\.\.\/\.\.\/etc\/shadow", which escapes the image root$/);
});

test('refuses a hard link to a file the package does not ship', async () => {
  await refused(await debOf([{ name: './etc/shadow', type: 'link', linkname: '/etc/shadow' }]), /: hard link "etc\/shadow" points to "\/etc\/shadow", which is an absolute path$/);
  await refused(await debOf([{ name: './x', type: 'link', linkname: './etc/shadow' }]), /: hard link "x" points to "\.\/etc\/shadow", which is not earlier in the archive$/);
});

test('refuses a file written through a symlink planted earlier', async () => {
  const deb = await debOf([
    { name: './usr/', type: 'directory' },
    { name: './usr/lib', type: 'symlink', linkname: '/etc' },
    { name: './usr/lib/cron.d/x', content: 'owned' },
  ]);
  await refused(deb, /: entry "usr\/lib\/cron\.d\/x" lies beneath symlink "usr\/lib"$/);
});

test('refuses a package of another format version', async () => {
  await refused(await debOf([], { version: '3.0\n' }), /: package format "3\.0" is not 2\.x$/);
});

test('refuses corrupt zstd data', async () => {
  await refused(await debOf([], { dataName: 'data.tar.zst', dataBytes: Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 1, 2, 3, 4, 5, 6, 7, 8]) }), /invalid zstd data/);
});

test('refuses a file that is not an ar archive', async () => {
  const dir = await tempDir('deb-hostile');
  await writeFile(join(dir, 'x.deb'), 'PK\x03\x04 not a deb');
  await refused(join(dir, 'x.deb'), /^deb: .*x\.deb: not a Debian package \(no ar archive header\)$/);
});
