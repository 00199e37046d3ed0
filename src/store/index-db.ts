import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { isImageId } from '../appc/image-id.ts';
import { withLock } from '../sys/flock.ts';
import { syncDirectory } from '../util/atomic-file.ts';
import { UserError } from '../util/errors.ts';
import { log } from '../util/log.ts';
import type { StorePaths } from './layout.ts';
import { writeStoreFile } from './temp.ts';
import type { ImageRecord } from './types.ts';

// The index: one JSON file per image (index/<id>.json), each replaced atomically, so a
// reader needs no lock and never sees half a record. Writers change a record under the
// exclusive index lock, so two updates (last use, remote info) never lose one another.

const RECORD_SUFFIX = '.json';

/** IDs of every stored image, from the record file names. */
export async function listIds(paths: StorePaths): Promise<string[]> {
  const names = await fsp.readdir(paths.indexDir);
  return names
    .filter((n) => n.endsWith(RECORD_SUFFIX))
    .map((n) => n.slice(0, -RECORD_SUFFIX.length))
    .filter(isImageId);
}

/**
 * Blobs, manifests and signatures of images not in `ids`: what an interrupted write or
 * rm leaves. Each comes with the image ID its name gives.
 */
export async function filesWithoutRecord(paths: StorePaths, ids: Set<string>): Promise<{ id: string; path: string }[]> {
  const found: { id: string; path: string }[] = [];
  for (const shard of await fsp.readdir(paths.blobRoot)) {
    for (const id of await fsp.readdir(join(paths.blobRoot, shard))) if (!ids.has(id)) found.push({ id, path: join(paths.blobRoot, shard, id) });
  }
  for (const id of await fsp.readdir(paths.manifestDir)) if (!ids.has(id)) found.push({ id, path: paths.manifest(id) });
  for (const name of await fsp.readdir(paths.signatureDir)) {
    const id = name.replace(/\.asc$/, '');
    if (!ids.has(id)) found.push({ id, path: join(paths.signatureDir, name) });
  }
  return found;
}

/** The record, undefined when the image is not stored; a damaged one throws. */
export async function readRecord(paths: StorePaths, id: string): Promise<ImageRecord | undefined> {
  let text: string;
  try {
    text = await fsp.readFile(paths.record(id), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  return parseRecord(text, id);
}

/** Every readable record. A damaged one is skipped with a warning: verify reports it. */
export async function listRecords(paths: StorePaths): Promise<ImageRecord[]> {
  const records: ImageRecord[] = [];
  for (const id of await listIds(paths)) {
    try {
      const record = await readRecord(paths, id);
      if (record) records.push(record);
    } catch (err) {
      log().warn({ id, err: (err as Error).message }, 'skipping a damaged index record');
    }
  }
  return records;
}

/** Creates or replaces a record. */
export async function putRecord(paths: StorePaths, record: ImageRecord): Promise<void> {
  await withLock(paths.indexLock, 'exclusive', () => writeRecordFile(paths, record));
}

/**
 * Changes a stored record; returns undefined (and writes nothing) when there is none.
 * `durable: false` is for hints such as the last use: a power cut may undo the change.
 */
export async function updateRecord(
  paths: StorePaths,
  id: string,
  change: (record: ImageRecord) => ImageRecord,
  opts: { durable?: boolean } = {},
): Promise<ImageRecord | undefined> {
  return withLock(paths.indexLock, 'exclusive', async () => {
    const record = await readRecord(paths, id);
    if (record === undefined) return undefined;
    const changed = change(record);
    await writeRecordFile(paths, changed, opts.durable ?? true);
    return changed;
  });
}

/** Unstores the image: durable before anything else of it goes. */
export async function deleteRecord(paths: StorePaths, id: string): Promise<void> {
  await withLock(paths.indexLock, 'exclusive', () => fsp.rm(paths.record(id), { force: true }));
  await syncDirectory(paths.indexDir);
}

async function writeRecordFile(paths: StorePaths, record: ImageRecord, durable = true): Promise<void> {
  await writeStoreFile(paths, paths.record(record.id), Buffer.from(`${JSON.stringify(record, null, 2)}\n`), { syncDir: durable });
}

function parseRecord(text: string, id: string): ImageRecord {
  const damaged = (why: string) => new UserError(`store: the index record of ${id} is damaged (${why}): run \`rkt image verify --repair\``);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw damaged('not JSON');
  }
  const record = value as Partial<ImageRecord> | null;
  if (record?.id !== id) throw damaged('it names another image');
  if (typeof record.name !== 'string' || !Array.isArray(record.labels)) throw damaged('no name or labels');
  if (typeof record.size !== 'number' || typeof record.importedAt !== 'string' || typeof record.lastUsedAt !== 'string') {
    throw damaged('no size or times');
  }
  return record as ImageRecord;
}
