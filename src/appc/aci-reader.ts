import { open } from 'node:fs/promises';
import { PassThrough, type Readable } from 'node:stream';
import type { Header } from 'tar-stream';
import { UserError } from '../util/errors.ts';
import type { AciEntry, AciEntryType } from './aci-entry.ts';
import { ArchiveRules } from './aci-archive-rules.ts';
import { decompressed } from './compression.ts';
import { imageIdHasher } from './image-id.ts';
import { parseImageManifest } from './image-manifest.ts';
import { XATTR_PREFIX } from './tar-header.ts';
import { walkTar } from './tar-walk.ts';
import type { ImageManifest } from './types.ts';

export type OnEntry = (entry: AciEntry, body: Readable) => Promise<void>;

export interface AciContents {
  manifest: ImageManifest;
  manifestBytes: Buffer;
  imageId: string;
  entries: AciEntry[];
}

// A manifest is a few kB; a cap keeps a hostile one from filling memory.
const MANIFEST_LIMIT = 4 * 1024 * 1024;

/** The tar member types an entry may have (tar-stream's names, as AciEntryType has them). */
const ENTRY_TYPES: ReadonlySet<string> = new Set<AciEntryType>([
  'file',
  'directory',
  'symlink',
  'link',
  'character-device',
  'block-device',
  'fifo',
]);

/**
 * Reads an image archive (compressed or not) in one pass: checks every entry
 * against the ACI layout rules, parses the manifest, and hashes the
 * uncompressed tar into the image ID. `onEntry` sees each entry in archive
 * order with its body; a body it leaves unread is skipped.
 */
export async function readAci(source: Readable, onEntry?: OnEntry): Promise<AciContents> {
  const hasher = imageIdHasher();
  const rules = new ArchiveRules();
  const entries: AciEntry[] = [];
  let manifestBytes: Buffer | undefined;
  let manifest: ImageManifest | undefined;

  const visit = async (header: Header, body: () => Readable): Promise<void> => {
    const type = entryTypeOf(header, 'aci');
    const path = rules.admit({ name: header.name, type, size: header.size, linkname: header.linkname ?? undefined });
    if (path === null) return;
    const entry = entryFromHeader(path, type, header);
    entries.push(entry);
    if (path === 'manifest') {
      manifestBytes = await readLimited(body(), MANIFEST_LIMIT);
      manifest = parseImageManifest(manifestBytes);
      await onEntry?.(entry, bufferStream(manifestBytes));
    } else if (onEntry) {
      await onEntry(entry, body());
    }
  };

  try {
    await walkTar(await decompressed(source), 'aci', visit, [hasher.stream]);
  } catch (err) {
    source.destroy();
    throw err;
  }
  rules.finish();
  return { manifest: manifest!, manifestBytes: manifestBytes!, imageId: hasher.imageId(), entries };
}

/** readAci on a file. */
export async function readAciFile(path: string, onEntry?: OnEntry): Promise<AciContents> {
  // Opening first reports a missing file as itself, not as a broken archive.
  const handle = await open(path, 'r');
  return readAci(handle.createReadStream(), onEntry);
}

/** The entry type of a tar header, refused (with `label` in front) when an image cannot hold it. */
export function entryTypeOf(header: Header, label: string): AciEntryType {
  const type = header.type === 'contiguous-file' ? 'file' : header.type;
  if (!ENTRY_TYPES.has(type)) throw new UserError(`${label}: entry "${header.name}" has an unsupported type`);
  return type as AciEntryType;
}

/** The entry a tar header describes, at the normalized `path`. */
export function entryFromHeader(path: string, type: AciEntryType, header: Header): AciEntry {
  const pax = (header.pax ?? {}) as Record<string, string>;
  const entry: AciEntry = {
    path,
    type,
    mode: header.mode & 0o7777,
    // tar-stream applies pax path, linkpath and size, but not these.
    uid: paxInteger(pax.uid) ?? header.uid,
    gid: paxInteger(pax.gid) ?? header.gid,
    mtime: paxInteger(pax.mtime) ?? Math.floor(header.mtime.getTime() / 1000),
    size: type === 'file' ? header.size : 0,
  };
  if (type === 'symlink' || type === 'link') entry.linkname = header.linkname ?? '';
  if (type === 'character-device' || type === 'block-device') {
    entry.devmajor = header.devmajor;
    entry.devminor = header.devminor;
  }
  const xattrs = xattrsOf(pax);
  if (xattrs) entry.xattrs = xattrs;
  return entry;
}

/** A pax decimal value; mtimes may carry a fraction, which we drop. */
function paxInteger(value: string | undefined): number | undefined {
  if (value === undefined || !/^-?\d+(\.\d+)?$/.test(value)) return undefined;
  return Math.floor(Number(value));
}


function xattrsOf(pax: Record<string, string>): Record<string, string> | undefined {
  const keys = Object.keys(pax).filter((k) => k.startsWith(XATTR_PREFIX));
  if (keys.length === 0) return undefined;
  return Object.fromEntries(keys.map((k) => [k.slice(XATTR_PREFIX.length), pax[k]!]));
}

async function readLimited(body: AsyncIterable<unknown>, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let length = 0;
  for await (const data of body) {
    const chunk = data as Buffer;
    length += chunk.length;
    if (length > limit) throw new UserError(`aci: manifest is larger than ${limit} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

function bufferStream(buf: Buffer): Readable {
  const stream = new PassThrough();
  stream.end(buf);
  return stream;
}
