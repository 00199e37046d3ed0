import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { buffer } from 'node:stream/consumers';
import type { AciEntry } from '../../src/appc/aci-entry.ts';
import { readDeb, readDebControl } from '../../src/debian/deb.ts';
import { tempDir } from '../appc/fixtures/aci-layout.ts';
import { buildDeb, type FakePackage } from '../helpers/debian-repo.ts';

// .debs built by dpkg-deb, read by readDeb and compared with what `dpkg-deb -c` lists.

const TYPE_CHAR: Record<string, string> = { file: '-', directory: 'd', symlink: 'l', link: 'h' };

/** An entry as `dpkg-deb -c` (GNU tar -tv) shows it: "-rwsr-xr-x root/root 52 ./usr/bin/x". */
function listed(e: AciEntry): string {
  const bits = 'rwxrwxrwx'.split('').map((c, i) => (e.mode & (0o400 >> i) ? c : '-'));
  const special = (i: number, bit: number, upper: string) => (bits[i] = e.mode & bit ? (bits[i] === 'x' ? upper.toLowerCase() : upper) : bits[i]!);
  special(2, 0o4000, 'S');
  special(5, 0o2000, 'S');
  special(8, 0o1000, 'T');
  const name = `./${e.path}${e.type === 'directory' ? '/' : ''}`;
  const link = e.type === 'symlink' ? ` -> ${e.linkname}` : e.type === 'link' ? ` link to ./${e.linkname}` : '';
  return `${TYPE_CHAR[e.type]}${bits.join('')} ${e.uid === 0 ? 'root' : e.uid}/${e.gid === 0 ? 'root' : e.gid} ${e.size} ${name}${link}`;
}

function dpkgList(deb: string): string[] {
  return execFileSync('dpkg-deb', ['-c', deb])
    .toString()
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => /^(\S+) (\S+)\s+(\d+) \S+ \S+ (.*)$/.exec(l)!)
    .map(([, mode, owner, size, name]) => `${mode} ${owner} ${size} ${name}`)
    .filter((l) => !l.endsWith(' ./'));
}

for (const compression of ['gzip', 'xz', 'zstd'] as const) {
  test(`reads a ${compression} .deb as dpkg-deb -c lists it`, async () => {
    const dir = await tempDir(`deb-${compression}`);
    const pkg: FakePackage = { name: 'hello', version: '1.2-3', compression, postinst: '#!/bin/sh\nexit 0\n', fields: { Depends: 'libc6 (>= 2.36)' } };
    const deb = buildDeb(dir, pkg, 'armhf');
    const entries: AciEntry[] = [];
    const bodies = new Map<string, string>();
    const { control, maintainerScripts } = await readDeb(deb, async (entry, body) => {
      entries.push(entry);
      if (entry.type === 'file') bodies.set(entry.path, (await buffer(body)).toString());
    });
    assert.deepEqual(entries.map(listed), dpkgList(deb));
    assert.deepEqual(new Set(entries.map((e) => e.type)), new Set(['directory', 'file', 'symlink', 'link']));
    assert.equal(control['package'], 'hello');
    assert.equal(control['version'], '1.2-3');
    assert.equal(control['architecture'], 'armhf');
    assert.equal(control['depends'], 'libc6 (>= 2.36)');
    assert.deepEqual(maintainerScripts, ['postinst']);
    assert.equal(bodies.get('usr/share/hello/README'), 'hello for armhf\n');
    const setuid = entries.find((e) => e.type === 'file' && (e.path === 'usr/bin/hello' || e.path === 'usr/lib/hello/hardlink'))!;
    assert.equal(setuid.mode, 0o4755);
    assert.equal(bodies.get(setuid.path), '#!/bin/sh\necho hello 1.2-3 armhf\n');
  });
}

test('readDebControl reads the control part alone', async () => {
  const dir = await tempDir('deb-control');
  const deb = buildDeb(dir, { name: 'tool', version: '2', fields: { 'Multi-Arch': 'foreign' } }, 'all');
  const { control, maintainerScripts } = await readDebControl(deb);
  assert.equal(control['package'], 'tool');
  assert.equal(control['multi-arch'], 'foreign');
  assert.equal(control['description'], 'test package tool\na package made by test/helpers/debian-repo.ts');
  assert.deepEqual(maintainerScripts, []);
});

test('a visitor may leave bodies unread', async () => {
  const dir = await tempDir('deb-skip');
  const deb = buildDeb(dir, { name: 'big', version: '1', compression: 'zstd', files: { 'usr/share/big/data': 'x'.repeat(3_000_000) } }, 'arm64');
  const paths: string[] = [];
  await readDeb(deb, async (entry) => void paths.push(entry.path));
  assert.ok(paths.includes('usr/share/big/data'));
});
