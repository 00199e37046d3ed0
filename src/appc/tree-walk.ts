import type { Stats } from 'node:fs';
import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';

export interface WalkedPath {
  /** The archive path: `prefix` followed by the path below the walked root. */
  path: string;
  abs: string;
  stats: Stats;
}

/**
 * Every path under `root` (itself included), lstat'ed and never followed,
 * sorted bytewise by archive path, so a directory precedes its contents and the
 * order does not depend on the filesystem or the locale.
 */
export async function walkTree(root: string, prefix: string): Promise<WalkedPath[]> {
  const found: WalkedPath[] = [];
  const visit = async (abs: string, path: string): Promise<void> => {
    const stats = await lstat(abs);
    found.push({ path, abs, stats });
    if (!stats.isDirectory()) return;
    const names = await readdir(abs);
    // All at once: libuv's pool bounds the real concurrency.
    await Promise.all(names.map((name) => visit(join(abs, name), `${path}/${name}`)));
  };
  await visit(root, prefix);
  const keyed = found.map((w) => ({ w, key: Buffer.from(w.path) }));
  keyed.sort((a, b) => Buffer.compare(a.key, b.key));
  return keyed.map((k) => k.w);
}
