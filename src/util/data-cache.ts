import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { temporaryNameFor } from './atomic-file.ts';

// What rkt worked out once and reuses, in <--dir>/cache/<name>.json: a kernel probe's
// verdict for this boot, the image a stage1 file holds. An entry only saves work: one
// that is missing, unreadable or stale is worked out again. So entries are replaced
// atomically (no reader sees half of one) but never synced, and failing to write one
// is no error.

/** The cached value, or undefined when there is none (or it cannot be read). */
export function readCache(dir: string, name: string): unknown {
  try {
    return JSON.parse(readFileSync(cacheFile(dir, name), 'utf8'));
  } catch {
    return undefined;
  }
}

export function writeCache(dir: string, name: string, value: unknown): void {
  const file = cacheFile(dir, name);
  const tmp = temporaryNameFor(file);
  try {
    mkdirSync(dirname(file), { recursive: true, mode: 0o755 });
    writeFileSync(tmp, JSON.stringify(value), { flag: 'wx', mode: 0o644 });
    renameSync(tmp, file);
  } catch {
    rmSync(tmp, { force: true });
  }
}

function cacheFile(dir: string, name: string): string {
  return join(dir, 'cache', `${name}.json`);
}
