import type { Stats } from 'node:fs';
import { lstat } from 'node:fs/promises';

/** lstat, or undefined where nothing is: the common "is anything in the way?" question. */
export async function lstatOrUndefined(path: string): Promise<Stats | undefined> {
  try {
    return await lstat(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** Whether anything (a dangling symlink too) is at `path`. */
export async function exists(path: string): Promise<boolean> {
  return (await lstatOrUndefined(path)) !== undefined;
}
