import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fsyncTree, syncTree } from '../../src/sys/sync-tree.ts';
import { tempDir } from './fixtures/aci-tar.ts';

// Durability cannot be observed without cutting the power; these check that both ways
// of syncing a rendered tree walk what they should and report what they cannot reach.

async function smallTree(): Promise<string> {
  const dir = await tempDir('sync-tree');
  await mkdir(join(dir, 'rootfs/etc'), { recursive: true });
  await writeFile(join(dir, 'rootfs/etc/hosts'), '127.0.0.1 localhost\n');
  await writeFile(join(dir, 'manifest'), '{}');
  // A symlink pointing nowhere must be skipped, never opened.
  await symlink('/nonexistent', join(dir, 'rootfs/dangling'));
  return dir;
}

test('syncTree (syncfs) and fsyncTree (the fallback walk) sync a tree with a dangling symlink in it', async () => {
  const dir = await smallTree();
  await syncTree(dir);
  await fsyncTree(dir);
});

test('syncing a tree that is not there is an error naming it', async () => {
  const missing = join(await tempDir('sync-tree-missing'), 'gone');
  await assert.rejects(syncTree(missing), { code: 'ENOENT', path: missing });
  await assert.rejects(fsyncTree(missing), { code: 'ENOENT', path: missing });
});
