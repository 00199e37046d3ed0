import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { AciEntry } from '../../src/appc/aci-entry.ts';
import { RootTree } from '../../src/build/cross/tree.ts';

function entry(path: string, type: AciEntry['type'], extra: Partial<AciEntry> = {}): AciEntry {
  return { path, type, mode: type === 'directory' ? 0o755 : 0o644, uid: 0, gid: 0, mtime: 100, size: 0, ...extra };
}

const ROOTFS = entry('rootfs', 'directory');
const listing = (tree: RootTree) => tree.members(ROOTFS).map((m) => `${m.entry.type} ${m.entry.path}${m.entry.linkname ? ` -> ${m.entry.linkname}` : ''}${m.abs ? ` @${m.abs}` : ''}`);

describe('cross root tree', () => {
  test('entries are sorted bytewise with implicit parents; a hard link group is carried by its first path', () => {
    const tree = new RootTree(50);
    tree.add(entry('usr/bin/zz', 'file', { size: 3 }), { abs: '/src/zz' }, 'package a');
    tree.add(entry('usr/bin/aa', 'link', { linkname: 'usr/bin/zz' }), undefined, 'package a');
    assert.deepEqual(listing(tree), [
      'directory rootfs',
      'directory rootfs/usr',
      'directory rootfs/usr/bin',
      'file rootfs/usr/bin/aa @/src/zz',
      'link rootfs/usr/bin/zz -> rootfs/usr/bin/aa',
    ]);
    const implicit = tree.members(ROOTFS)[1]!.entry;
    assert.deepEqual([implicit.mode, implicit.uid, implicit.gid, implicit.mtime], [0o755, 0, 0, 50]);
  });

  test('a later entry wins, and a file replaced after being hard-linked keeps the link on the old body', () => {
    const tree = new RootTree(0);
    tree.add(entry('bin/tool', 'file', { size: 1 }), { abs: '/pkg/tool' }, 'package a');
    tree.add(entry('bin/tool2', 'link', { linkname: 'bin/tool' }), undefined, 'package a');
    tree.add(entry('bin/tool', 'file', { size: 2 }), { abs: '/spec/tool' }, 'files[0]');
    assert.deepEqual(listing(tree), ['directory rootfs', 'directory rootfs/bin', 'file rootfs/bin/tool @/spec/tool', 'file rootfs/bin/tool2 @/pkg/tool']);
  });

  test('a path below a directory symlink goes where it points, and a directory never replaces the symlink', () => {
    const tree = new RootTree(0);
    tree.add(entry('lib', 'symlink', { linkname: 'usr/lib' }), undefined, 'package base-files');
    tree.add(entry('lib', 'directory'), undefined, 'package libc6');
    tree.add(entry('lib/ld.so', 'file', { size: 1 }), { abs: '/x' }, 'package libc6');
    tree.add(entry('etc/alt', 'symlink', { linkname: '/lib/../../../../usr' }), undefined, 'package a');
    tree.add(entry('etc/alt/share/x', 'file', { size: 1 }), { abs: '/y' }, 'package a');
    assert.deepEqual(listing(tree), [
      'directory rootfs',
      'directory rootfs/etc',
      'symlink rootfs/etc/alt -> /lib/../../../../usr',
      'symlink rootfs/lib -> usr/lib',
      'directory rootfs/usr',
      'directory rootfs/usr/lib',
      'file rootfs/usr/lib/ld.so @/x',
      'directory rootfs/usr/share',
      'file rootfs/usr/share/x @/y',
    ]);
  });

  test('a file over a directory that holds files, or below a file, is an error naming both', () => {
    const tree = new RootTree(0);
    tree.add(entry('usr/bin/x', 'file', { size: 1 }), { abs: '/x' }, 'package a');
    assert.throws(() => tree.add(entry('usr/bin', 'file', { size: 1 }), { abs: '/y' }, 'files[1]'), {
      message: 'files[1]: "/usr/bin" would replace a directory that holds files',
    });
    assert.throws(() => tree.add(entry('usr/bin/x/y', 'file', { size: 1 }), { abs: '/y' }, 'files[2]'), {
      message: 'files[2]: "/usr/bin/x/y" is below "/usr/bin/x", which is not a directory',
    });
    assert.throws(() => tree.add(entry('usr/z', 'link', { linkname: 'usr/nothing' }), undefined, 'package b'), {
      message: 'package b: hard link "/usr/z" points to "/usr/nothing", which is not a file in the image',
    });
  });
});
