import { lstatSync, readdirSync, type Stats } from 'node:fs';
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
 *
 * Synchronous on purpose: a promise and a thread-pool round trip per lstat made
 * walking 20,000 files four times slower, and nothing else runs meanwhile.
 */
export function walkTree(root: string, prefix: string): WalkedPath[] {
  const found: WalkedPath[] = [];
  const visit = (abs: string, path: string): void => {
    const stats = lstatSync(abs);
    found.push({ path, abs, stats });
    if (!stats.isDirectory()) return;
    for (const name of readdirSync(abs)) visit(join(abs, name), `${path}/${name}`);
  };
  visit(root, prefix);
  const keyed = found.map((w) => ({ w, key: Buffer.from(w.path) }));
  keyed.sort((a, b) => Buffer.compare(a.key, b.key));
  return keyed.map((k) => k.w);
}
