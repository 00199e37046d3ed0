import { existsSync, promises as fsp } from 'node:fs';
import { dirname, join } from 'node:path';
import { sha256File } from '../../debian/repo-files.ts';
import { syncDirectory } from '../../util/atomic-file.ts';
import { UserError } from '../../util/errors.ts';

/**
 * Moves a finished output tree into `outDir`. A new DIR is one rename, so it appears
 * whole or not at all. An existing DIR (a web root collecting versions) gets each file
 * renamed in, images before their signatures; a file already there that differs is
 * refused before anything moves, unless `overwrite`. Building the same spec twice is
 * thus a no-op the second time.
 */
export async function publish(staged: string, outDir: string, overwrite: boolean): Promise<void> {
  if (!existsSync(outDir)) {
    await fsp.rename(staged, outDir);
    await syncDirectory(dirname(outDir));
    return;
  }
  const files: string[] = [];
  for (const rel of (await fsp.readdir(staged, { recursive: true })).sort()) {
    if ((await fsp.lstat(join(staged, rel))).isFile()) files.push(rel);
  }
  for (const rel of files) {
    const target = join(outDir, rel);
    if (!overwrite && existsSync(target) && !(await sameContent(join(staged, rel), target))) {
      throw new UserError(`cross: ${target} already exists and differs; pass --overwrite to replace it`);
    }
  }
  const touched = new Set<string>();
  for (const rel of files) {
    const target = join(outDir, rel);
    await fsp.mkdir(dirname(target), { recursive: true, mode: 0o755 });
    await fsp.rename(join(staged, rel), target);
    touched.add(dirname(target));
  }
  for (const dir of touched) await syncDirectory(dir);
}

async function sameContent(a: string, b: string): Promise<boolean> {
  const [sa, sb] = await Promise.all([fsp.stat(a), fsp.stat(b)]);
  if (!sb.isFile() || sa.size !== sb.size) return false;
  const [ha, hb] = await Promise.all([sha256File(a), sha256File(b)]);
  return ha === hb;
}
