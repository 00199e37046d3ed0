import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { AciEntry } from '../../../src/appc/aci-entry.ts';
import { planChange, SquashTree } from '../../../src/fetch/docker/squash.ts';

type Spec = [name: string, type?: AciEntry['type'], linkname?: string];

function layers(...specs: Spec[][]): SquashTree {
  const tree = new SquashTree(100);
  specs.forEach((layer, i) => {
    tree.startLayer(`layer ${i + 1}`);
    for (const [name, type = 'file', linkname] of layer) {
      const entry: AciEntry = { path: name, type, mode: type === 'directory' ? 0o755 : 0o644, uid: 0, gid: 0, mtime: i, size: 0, ...(linkname !== undefined ? { linkname } : {}) };
      tree.apply(entry, type === 'file' ? { content: Buffer.from(`${name}@${i + 1}`) } : undefined);
    }
  });
  return tree;
}

const dir = { path: 'rootfs', type: 'directory', mode: 0o755, uid: 0, gid: 0, mtime: 0, size: 0 } as const;
function listing(tree: SquashTree): string[] {
  return tree.members(dir).slice(1).map((m) => {
    const e = m.entry;
    const p = e.path.slice('rootfs/'.length);
    if (e.type === 'file') return `${p}=${m.content?.toString() ?? ''}`;
    if (e.type === 'link') return `${p}=>${e.linkname}`;
    if (e.type === 'symlink') return `${p}->${e.linkname}`;
    return `${p}/`;
  });
}

test('whiteout names are planned, and ones aiming outside refused', () => {
  assert.deepEqual(planChange('etc/.wh.passwd', 'l'), { kind: 'whiteout', path: 'etc/passwd' });
  assert.deepEqual(planChange('./.wh.tmp', 'l'), { kind: 'whiteout', path: 'tmp' });
  assert.deepEqual(planChange('var/.wh..wh..opq', 'l'), { kind: 'opaque', dir: 'var' });
  assert.deepEqual(planChange('.wh..wh.plnk/1', 'l'), { kind: 'entry', path: '.wh..wh.plnk/1' });
  assert.deepEqual(planChange('x/.wh..wh.aufs', 'l'), { kind: 'skip' });
  assert.deepEqual(planChange('./', 'l'), { kind: 'skip' });
  assert.deepEqual(planChange('/etc/x', 'l'), { kind: 'entry', path: 'etc/x' });
  assert.throws(() => planChange('etc/.wh...', 'l'), /whiteout "etc\/.wh..." names "..", outside its directory/);
  assert.throws(() => planChange('../.wh.etc', 'l'), /escapes the image root/);
  assert.throws(() => planChange('a/../../.wh.etc', 'l'), /escapes the image root/);
});

test('later layers replace, whiteouts delete from lower layers, parents are made', () => {
  const tree = layers([['etc/', 'directory'], ['etc/passwd'], ['etc/group'], ['bin/sh']], [['etc/.wh.group'], ['etc/passwd'], ['usr/bin/new']]);
  assert.deepEqual(listing(tree), ['bin/', 'bin/sh=bin/sh@1', 'etc/', 'etc/passwd=etc/passwd@2', 'usr/', 'usr/bin/', 'usr/bin/new=usr/bin/new@2']);
});

test('an opaque directory hides what lower layers had in it, not what its own layer adds', () => {
  const tree = layers([['var/lib/a'], ['var/lib/b'], ['var/c']], [['var/lib/new'], ['var/lib/.wh..wh..opq']]);
  assert.deepEqual(listing(tree), ['var/', 'var/c=var/c@1', 'var/lib/', 'var/lib/new=var/lib/new@2']);
});

test('a whiteout after its layer re-added the directory keeps the new content', () => {
  const tree = layers([['d/old'], ['d/keep']], [['d/', 'directory'], ['d/new'], ['.wh.d']]);
  assert.deepEqual(listing(tree), ['d/', 'd/new=d/new@2']);
});

test('a file replaces a directory with everything in it; a directory replaces a symlink', () => {
  const tree = layers([['a/x'], ['a/y/z'], ['l', 'symlink', 'a']], [['a'], ['l/', 'directory'], ['l/f']]);
  assert.deepEqual(listing(tree), ['a=a@2', 'l/', 'l/f=l/f@2']);
});

test('a path below a symlink lands where it points, inside the image', () => {
  const tree = layers([['usr/lib/', 'directory'], ['lib', 'symlink', 'usr/lib'], ['etc2', 'symlink', '/etc']], [['lib/libc.so'], ['etc2/hosts']]);
  assert.deepEqual(listing(tree), ['etc/', 'etc/hosts=etc2/hosts@2', 'etc2->/etc', 'lib->usr/lib', 'usr/', 'usr/lib/', 'usr/lib/libc.so=lib/libc.so@2']);
});

test('symlinks that climb out of the image are refused, as are paths below files', () => {
  assert.throws(() => layers([['esc', 'symlink', '../../../../tmp']], [['esc/pwned']]), /layer 2: "esc\/pwned" goes through symlink "\/esc" -> "..\/..\/..\/..\/tmp", which escapes the image root/);
  assert.throws(() => layers([['a/b', 'symlink', '../..']], [['a/b/x']]), /escapes the image root/);
  assert.throws(() => layers([['a/esc', 'symlink', '../../etc']], [['a/esc/.wh.passwd']]), /escapes the image root/);
  assert.throws(() => layers([['f']], [['f/x']]), /"f\/x" lies beneath file "\/f"/);
  assert.throws(() => layers([['loop', 'symlink', 'loop']], [['loop/x']]), /too many symlinks/);
});

test('hard links stay in the tree and keep their content when the target is replaced or whited out', () => {
  const tree = layers([['bin/a'], ['bin/b', 'link', 'bin/a']], [['bin/a'], ['bin/c', 'link', 'bin/b']], [['bin/.wh.b']]);
  assert.deepEqual(listing(tree), ['bin/', 'bin/a=bin/a@2', 'bin/c=bin/a@1']);
  const linked = layers([['x'], ['y', 'link', '/x']]);
  assert.deepEqual(listing(linked), ['x=x@1', 'y=>rootfs/x']);
  assert.throws(() => layers([['a', 'link', '../../etc/passwd']]), /hard link "a" points to "..\/..\/etc\/passwd", which escapes the image root/);
  assert.throws(() => layers([['a', 'link', 'etc/shadow']]), /hard link "a" points to "etc\/shadow", which is not in the image: refusing a link out of the tree/);
  assert.throws(() => layers([['d/', 'directory'], ['a', 'link', 'd']]), /which is a directory/);
});

test('the image\'s own files can be read back (for /etc/passwd)', () => {
  const tree = layers([['etc/passwd']], [['etc/passwd']]);
  assert.equal(tree.file('/etc/passwd')?.body?.content?.toString(), 'etc/passwd@2');
  assert.equal(tree.file('etc/none'), undefined);
});
