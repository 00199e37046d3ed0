import { createHash } from 'node:crypto';
import { createReadStream, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { walkTree, type WalkedPath } from '../appc/tree-walk.ts';

// The digest of a rendered tree: SHA-512 over one JSON line per path of `manifest` and
// `rootfs/**`, in bytewise path order: [path, type, mode, uid, gid, size, detail], where
// detail is a file's content SHA-512, a symlink's target, a device's rdev. Times are left
// out: they say nothing about what a pod would run. Computed when the tree is rendered
// and stored in `.complete`; verify recomputes it.

const DIGEST_PREFIX = 'sha512-';

export async function treeDigest(treeDir: string): Promise<string> {
  const digest = createHash('sha512');
  const paths = [...walkTree(join(treeDir, 'manifest'), 'manifest'), ...walkTree(join(treeDir, 'rootfs'), 'rootfs')];
  for (const walked of paths) digest.update(`${JSON.stringify(await describe(walked))}\n`);
  return DIGEST_PREFIX + digest.digest('hex');
}

async function describe({ path, abs, stats }: WalkedPath): Promise<(string | number)[]> {
  const common = [path, typeOf(stats), stats.mode & 0o7777, stats.uid, stats.gid];
  if (stats.isFile()) return [...common, stats.size, await fileHash(abs)];
  if (stats.isSymbolicLink()) return [...common, 0, readlinkSync(abs)];
  if (stats.isCharacterDevice() || stats.isBlockDevice()) return [...common, 0, stats.rdev];
  return [...common, 0, ''];
}

function typeOf(stats: WalkedPath['stats']): string {
  if (stats.isFile()) return 'file';
  if (stats.isDirectory()) return 'directory';
  if (stats.isSymbolicLink()) return 'symlink';
  if (stats.isFIFO()) return 'fifo';
  if (stats.isCharacterDevice()) return 'character-device';
  if (stats.isBlockDevice()) return 'block-device';
  return 'other';
}

async function fileHash(path: string): Promise<string> {
  const hash = createHash('sha512');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}
