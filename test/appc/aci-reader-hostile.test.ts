import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pack, type Header } from 'tar-stream';
import { readAci } from '../../src/appc/aci-reader.ts';
import { UserError } from '../../src/util/errors.ts';
import { MANIFEST, collect, makeLayout, tempDir } from './fixtures/aci-layout.ts';

// Archives built by hand, as an attacker would, each replaying one trick.

type Member = Partial<Header> & { name: string; content?: string };

const manifest: Member = { name: 'manifest', content: MANIFEST };
const rootfs: Member = { name: 'rootfs/', type: 'directory' };

async function tarOf(members: Member[]): Promise<Buffer> {
  const p = pack();
  const out = collect(p as unknown as Readable);
  for (const { content, ...header } of members) {
    await new Promise<void>((resolve, reject) =>
      p.entry({ mtime: new Date(0), ...header }, content ?? '', (err) => (err ? reject(err) : resolve())),
    );
  }
  p.finalize();
  return out;
}

async function refused(tar: Buffer, message: RegExp): Promise<void> {
  await assert.rejects(readAci(Readable.from([tar])), (err: Error) => {
    assert.ok(err instanceof UserError, `expected a UserError, got ${err.stack}`);
    assert.doesNotMatch(err.message, /\n/);
    assert.match(err.message, message);
    return true;
  });
}

test('refuses rootfs/../../etc/x traversal', async () => {
  await refused(await tarOf([manifest, rootfs, { name: 'rootfs/../../etc/x', content: 'owned' }]), /^aci: entry "rootfs\/\.\.\/\.\.\/etc\/x" escapes the image root$/);
});

test('refuses an absolute /etc/passwd entry', async () => {
  await refused(await tarOf([manifest, rootfs, { name: '/etc/passwd', content: 'root::0:0::/:/bin/sh' }]), /^aci: entry "\/etc\/passwd" is an absolute path$/);
});

test('refuses an absolute entry written by GNU tar --absolute-names', async () => {
  const dir = await makeLayout(await tempDir('aci-hostile-gnu'));
  const tar = execFileSync('tar', ['-cf', '-', '--absolute-names', '-C', dir, 'manifest', 'rootfs', join(dir, 'manifest')]);
  await refused(tar, /^aci: entry "\/.*\/manifest" is an absolute path$/);
});

test('refuses a pax path that climbs out while the ustar name looks harmless', async () => {
  const tar = await tarOf([manifest, rootfs, { name: 'rootfs/harmless', pax: { path: 'rootfs/../../../etc/cron.d/x' }, content: '* * * * * root sh' }]);
  await refused(tar, /^aci: entry "rootfs\/\.\.\/\.\.\/\.\.\/etc\/cron\.d\/x" escapes the image root$/);
});

test('refuses a hard link to ../../etc/shadow', async () => {
  await refused(
    await tarOf([manifest, rootfs, { name: 'rootfs/shadow', type: 'link', linkname: '../../etc/shadow' }]),
    /^aci: hard link "rootfs\/shadow" points to "\.\.\/\.\.\/etc\/shadow", which escapes the image root$/,
  );
});

test('refuses a hard link to an absolute /etc/shadow', async () => {
  await refused(
    await tarOf([manifest, rootfs, { name: 'rootfs/shadow', type: 'link', linkname: '/etc/shadow' }]),
    /^aci: hard link "rootfs\/shadow" points to "\/etc\/shadow", which is an absolute path$/,
  );
});

test('refuses a hard link to a target absent earlier in the archive', async () => {
  await refused(
    await tarOf([manifest, rootfs, { name: 'rootfs/a', type: 'link', linkname: 'rootfs/b' }, { name: 'rootfs/b', content: 'late' }]),
    /^aci: hard link "rootfs\/a" points to "rootfs\/b", which is not earlier in the archive$/,
  );
});

test('refuses a hard link to the manifest, outside rootfs', async () => {
  await refused(
    await tarOf([manifest, rootfs, { name: 'rootfs/m', type: 'link', linkname: 'manifest' }]),
    /^aci: hard link "rootfs\/m" points to "manifest", outside rootfs$/,
  );
});

test('refuses a hard link to a directory', async () => {
  await refused(
    await tarOf([manifest, rootfs, { name: 'rootfs/d/', type: 'directory' }, { name: 'rootfs/l', type: 'link', linkname: 'rootfs/d' }]),
    /^aci: hard link "rootfs\/l" points to directory "rootfs\/d"$/,
  );
});

test('refuses duplicate entries', async () => {
  await refused(
    await tarOf([manifest, rootfs, { name: 'rootfs/etc/passwd', content: 'one' }, { name: './rootfs//etc/passwd', content: 'two' }]),
    /^aci: duplicate entry "rootfs\/etc\/passwd"$/,
  );
});

test('refuses a second manifest that would replace the first', async () => {
  await refused(await tarOf([manifest, rootfs, { ...manifest, content: '{}' }]), /^aci: duplicate entry "manifest"$/);
});

test('refuses an archive with no manifest', async () => {
  await refused(await tarOf([rootfs, { name: 'rootfs/x', content: 'x' }]), /^aci: archive has no manifest$/);
});

test('refuses an archive with no rootfs directory', async () => {
  await refused(await tarOf([manifest]), /^aci: archive has no rootfs directory$/);
});

test('refuses an extra top-level entry', async () => {
  await refused(
    await tarOf([manifest, rootfs, { name: 'etc/passwd', content: 'x' }]),
    /^aci: entry "etc\/passwd" is neither the manifest nor under rootfs$/,
  );
});

test('refuses a directory named manifest', async () => {
  await refused(await tarOf([{ name: 'manifest/', type: 'directory' }, rootfs]), /^aci: "manifest" is a directory, not a regular file$/);
});

test('refuses a manifest that is a symlink to a host file', async () => {
  await refused(await tarOf([{ name: 'manifest', type: 'symlink', linkname: '/etc/passwd' }, rootfs]), /^aci: "manifest" is a symlink, not a regular file$/);
});

test('refuses a rootfs that is a symlink to /', async () => {
  await refused(await tarOf([manifest, { name: 'rootfs', type: 'symlink', linkname: '/' }]), /^aci: "rootfs" is a symlink, not a directory$/);
});

test('refuses an entry planted beneath a symlink (rootfs/evil -> /etc, then rootfs/evil/passwd)', async () => {
  await refused(
    await tarOf([manifest, rootfs, { name: 'rootfs/evil', type: 'symlink', linkname: '/etc' }, { name: 'rootfs/evil/passwd', content: 'x' }]),
    /^aci: entry "rootfs\/evil\/passwd" lies beneath symlink "rootfs\/evil"$/,
  );
});

test('refuses a symlink placed over a directory that already has entries', async () => {
  await refused(
    await tarOf([manifest, rootfs, { name: 'rootfs/etc/passwd', content: 'x' }, { name: 'rootfs/etc', type: 'symlink', linkname: '/etc' }]),
    /^aci: symlink "rootfs\/etc" has entries beneath it$/,
  );
});

test('refuses a directory with a size, which tar readers would parse differently', async () => {
  // Hand-patch a header: tar-stream's packer drops sizes of non-files.
  const tar = await tarOf([manifest, rootfs, { name: 'rootfs/d/', type: 'directory' }]);
  const at = tar.indexOf('rootfs/d/');
  tar.write('00000001000\0', at + 124, 'latin1');
  let sum = 0;
  tar.fill(0x20, at + 148, at + 156);
  for (const b of tar.subarray(at, at + 512)) sum += b;
  tar.write(`${sum.toString(8).padStart(6, '0')}\0 `, at + 148, 'latin1');
  await refused(tar, /^aci: directory "rootfs\/d" has a size of 512$/);
});

test('refuses an invalid manifest with the manifest parser\'s one-line message', async () => {
  await refused(await tarOf([{ name: 'manifest', content: '{"acKind":"ImageManifest"' }, rootfs]), /^manifest: /);
});

test('accepts "./"-prefixed names, a manifest after rootfs, FIFOs and device nodes', async () => {
  const tar = await tarOf([
    { name: './', type: 'directory' },
    { name: './rootfs/', type: 'directory' },
    { name: './rootfs/dev/', type: 'directory' },
    { name: './rootfs/dev/null', type: 'character-device', devmajor: 1, devminor: 3, mode: 0o666 },
    { name: './rootfs/dev/sda', type: 'block-device', devmajor: 8, devminor: 0, mode: 0o660 },
    { name: './rootfs/run.fifo', type: 'fifo', mode: 0o600 },
    { name: './manifest', content: MANIFEST },
  ]);
  const { entries, manifest: m } = await readAci(Readable.from([tar]));
  assert.equal(m.name, 'example.com/test');
  assert.deepEqual(
    entries.map((e) => [e.path, e.type, e.devmajor, e.devminor]),
    [
      ['rootfs', 'directory', undefined, undefined],
      ['rootfs/dev', 'directory', undefined, undefined],
      ['rootfs/dev/null', 'character-device', 1, 3],
      ['rootfs/dev/sda', 'block-device', 8, 0],
      ['rootfs/run.fifo', 'fifo', undefined, undefined],
      ['manifest', 'file', undefined, undefined],
    ],
  );
});

test('an archive made by GNU tar from a layout directory reads fine', async () => {
  const dir = await makeLayout(await tempDir('aci-gnu'), { 'bin/sh': 'echo' });
  await mkdir(join(dir, 'rootfs', 'tmp'));
  await writeFile(join(dir, 'rootfs', 'tmp', 'a'), '');
  const tar = execFileSync('tar', ['-cf', '-', '-C', dir, '.']);
  const { entries } = await readAci(Readable.from([tar]));
  assert.deepEqual(entries.map((e) => e.path).sort(), ['manifest', 'rootfs', 'rootfs/bin', 'rootfs/bin/sh', 'rootfs/tmp', 'rootfs/tmp/a']);
});
