import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, lstat, mkdir, readFile, readlink, symlink, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import type { AciEntry } from '../../src/appc/aci-entry.ts';
import { readAci } from '../../src/appc/aci-reader.ts';
import { packAci } from '../../src/appc/aci-writer.ts';
import { collect, makeLayout, tempDir } from './fixtures/aci-layout.ts';

const isRoot = process.getuid?.() === 0;
const LONG_DIR = `deep/${'d'.repeat(60)}/${'e'.repeat(60)}`; // over 100 bytes with rootfs/: needs the ustar prefix
const LONGER_DIR = `${LONG_DIR}/${'f'.repeat(120)}/${'g'.repeat(40)}`; // over 255 bytes: needs pax
const FAR_TARGET = `/${'t'.repeat(150)}`;

/** A tree with one of everything an image may hold. */
async function richLayout(): Promise<string> {
  const dir = await makeLayout(await tempDir('aci-roundtrip'), {
    'empty': '',
    'big.bin': randomBytes(3 * 1024 * 1024 + 17),
    'usr/bin/suid': '#!/bin/sh\n',
    'usr/share/doc/readme': 'hello\n',
    [`${LONG_DIR}/file`]: 'long',
    [`${LONGER_DIR}/file`]: 'longer',
    'naïve/ünïcode': 'utf-8 names',
  });
  const root = join(dir, 'rootfs');
  await chmod(join(root, 'usr/bin/suid'), 0o4755);
  await mkdir(join(root, 'tmp'));
  await chmod(join(root, 'tmp'), 0o1777);
  await mkdir(join(root, 'srv'));
  await chmod(join(root, 'srv'), 0o2750);
  await symlink('/etc/passwd', join(root, 'outside'));
  await symlink('does/not/exist', join(root, 'dangling'));
  await symlink('../usr/share/doc/readme', join(root, 'usr/readme'));
  await symlink(FAR_TARGET, join(root, 'far'));
  execFileSync('ln', [join(root, 'usr/share/doc/readme'), join(root, 'usr/bin/hardlink')]);
  execFileSync('mkfifo', ['-m', '0640', join(root, 'fifo')]);
  if (isRoot) execFileSync('mknod', ['-m', '0666', join(root, 'null'), 'c', '1', '3']);
  await utimes(join(root, 'empty'), 1_234_567_890, 1_234_567_890);
  return dir;
}

async function expectedEntry(dir: string, path: string): Promise<Omit<AciEntry, 'type' | 'linkname'>> {
  const st = await lstat(join(dir, path));
  return { path, mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, mtime: Math.floor(st.mtimeMs / 1000), size: st.isFile() ? st.size : 0 };
}

test('round trip: the reader returns the metadata of the packed tree, GNU tar lists and extracts it', async () => {
  const dir = await richLayout();
  const tar = await collect(packAci(dir));
  const bodies = new Map<string, Buffer>();
  const { entries } = await readAci(Readable.from([tar]), async (entry, body) => {
    bodies.set(entry.path, await collect(body));
  });
  const byPath = new Map(entries.map((e) => [e.path, e]));

  for (const entry of entries) {
    if (entry.type === 'link') continue;
    const { path, mode, uid, gid, mtime, size } = entry;
    assert.deepEqual({ path, mode, uid, gid, mtime, size }, await expectedEntry(dir, path), path);
    if (entry.type === 'file') assert.ok(bodies.get(path)!.equals(await readFile(join(dir, path))), path);
    if (entry.type === 'symlink') assert.equal(entry.linkname, await readlink(join(dir, path)), path);
  }
  assert.equal(byPath.get('rootfs/usr/bin/suid')?.mode, 0o4755);
  assert.equal(byPath.get('rootfs/tmp')?.mode, 0o1777);
  assert.equal(byPath.get('rootfs/srv')?.mode, 0o2750);
  assert.equal(byPath.get('rootfs/empty')?.mtime, 1_234_567_890);
  assert.equal(byPath.get('rootfs/big.bin')?.size, 3 * 1024 * 1024 + 17);
  assert.deepEqual([byPath.get('rootfs/outside')?.type, byPath.get('rootfs/outside')?.linkname], ['symlink', '/etc/passwd']);
  assert.equal(byPath.get('rootfs/dangling')?.linkname, 'does/not/exist');
  assert.equal(byPath.get('rootfs/far')?.linkname, FAR_TARGET);
  assert.deepEqual(
    [byPath.get('rootfs/usr/share/doc/readme')?.type, byPath.get('rootfs/usr/share/doc/readme')?.linkname],
    ['link', 'rootfs/usr/bin/hardlink'],
  );
  assert.equal(byPath.get('rootfs/fifo')?.type, 'fifo');
  assert.equal(byPath.get('rootfs/fifo')?.mode, 0o640);
  assert.ok(byPath.has(`rootfs/${LONGER_DIR}/file`));
  assert.ok(`rootfs/${LONGER_DIR}/file`.length > 255);
  assert.ok(byPath.has('rootfs/naïve/ünïcode'));
  if (isRoot) {
    const dev = byPath.get('rootfs/null');
    assert.deepEqual([dev?.type, dev?.devmajor, dev?.devminor, dev?.mode], ['character-device', 1, 3, 0o666]);
  }

  // Interop: GNU tar sees the same names, and extracts the same bytes and links.
  const listed = execFileSync('tar', ['tf', '-'], { input: tar, maxBuffer: 1 << 26 })
    .toString()
    .trim()
    .split('\n')
    .map((name) => name.replace(/\/$/, ''));
  assert.deepEqual(listed, entries.map((e) => e.path));
  const verbose = execFileSync('tar', ['tvf', '-', '--numeric-owner'], { input: tar, maxBuffer: 1 << 26 }).toString();
  assert.match(verbose, /^-rwsr-xr-x .* rootfs\/usr\/bin\/suid$/m);
  assert.match(verbose, /^prw-r----- .* rootfs\/fifo$/m);
  assert.match(verbose, /^lrwxrwxrwx .* rootfs\/outside -> \/etc\/passwd$/m);
  assert.match(verbose, /^hrw-r--r-- .* rootfs\/usr\/share\/doc\/readme link to rootfs\/usr\/bin\/hardlink$/m);
  if (isRoot) assert.match(verbose, /^crw-rw-rw- .* 1,3 .* rootfs\/null$/m);
  const out = await tempDir('aci-roundtrip-x');
  execFileSync('tar', ['xf', '-', '-C', out, '--numeric-owner', '-p'], { input: tar, maxBuffer: 1 << 26 });
  assert.ok((await readFile(join(out, 'rootfs/big.bin'))).equals(await readFile(join(dir, 'rootfs/big.bin'))));
  assert.equal(await readFile(join(out, 'rootfs', LONGER_DIR, 'file'), 'utf8'), 'longer');
  assert.equal(await readlink(join(out, 'rootfs/far')), FAR_TARGET);
  const [a, b] = await Promise.all([lstat(join(out, 'rootfs/usr/bin/hardlink')), lstat(join(out, 'rootfs/usr/share/doc/readme'))]);
  assert.equal(a.ino, b.ino);
});

test('GNU tar reads what packAci writes, and packAci re-packs what GNU tar extracted to the same image', async () => {
  const dir = await richLayout();
  const tar = await collect(packAci(dir, { ownerRoot: true, sourceDateEpoch: 1_700_000_000 }));
  const out = await tempDir('aci-repack');
  execFileSync('tar', ['xf', '-', '-C', out, '--numeric-owner', '-p'], { input: tar, maxBuffer: 1 << 26 });
  const again = await collect(packAci(out, { ownerRoot: true, sourceDateEpoch: 1_700_000_000 }));
  const first = await readAci(Readable.from([tar]));
  const second = await readAci(Readable.from([again]));
  assert.deepEqual(second.entries, first.entries);
  assert.equal(second.imageId, first.imageId);
});

test('a body left unread by onEntry is skipped, and the next entries still arrive', async () => {
  const dir = await makeLayout(await tempDir('aci-skip'), { 'a': randomBytes(200_000), 'b': 'second' });
  const seen: string[] = [];
  await readAci(Readable.from([await collect(packAci(dir))]), async (entry, body) => {
    seen.push(entry.path);
    if (entry.path === 'rootfs/b') assert.equal((await collect(body)).toString(), 'second');
  });
  assert.deepEqual(seen, ['manifest', 'rootfs', 'rootfs/a', 'rootfs/b']);
});

test('a failing onEntry stops the read with its own error', async () => {
  const dir = await makeLayout(await tempDir('aci-visitor-error'), { 'a': 'x' });
  const boom = new Error('disk full');
  await assert.rejects(
    readAci(Readable.from([await collect(packAci(dir))]), async (entry) => {
      if (entry.path === 'rootfs/a') throw boom;
    }),
    (err) => err === boom,
  );
});

test('a body being read when the archive turns out truncated fails rather than hangs', async () => {
  const dir = await makeLayout(await tempDir('aci-truncated-body'), { 'big': randomBytes(500_000) });
  const tar = await collect(packAci(dir));
  await assert.rejects(
    readAci(Readable.from([tar.subarray(0, 300_000)]), async (_entry, body) => {
      await collect(body);
    }),
  );
});
