import { UserError } from '../util/errors.ts';
import type { AciEntry, AciEntryType } from './aci-entry.ts';

// POSIX ustar headers, with a pax extended header in front only when a value does
// not fit: the same entry always encodes to the same bytes, which keeps image IDs
// reproducible. uname and gname stay empty so that ids, not the builder's user
// database, define ownership.

const BLOCK = 512;
export const XATTR_PREFIX = 'SCHILY.xattr.';

const TYPEFLAG: Record<AciEntryType, string> = {
  file: '0',
  link: '1',
  symlink: '2',
  'character-device': '3',
  'block-device': '4',
  directory: '5',
  fifo: '6',
};

const MAX_OCTAL_7 = 0o7777777;
const MAX_OCTAL_11 = 0o77777777777;

/** The header block(s) for `entry`; its body and padding follow separately. */
export function encodeTarHeader(entry: AciEntry): Buffer {
  const name = Buffer.from(entry.type === 'directory' ? `${entry.path}/` : entry.path);
  const linkname = Buffer.from(entry.linkname ?? '');
  const split = splitUstarName(name);
  const pax: [string, string][] = [];
  if (!split) pax.push(['path', name.toString()]);
  if (linkname.length > 100) pax.push(['linkpath', linkname.toString()]);
  if (entry.uid > MAX_OCTAL_7) pax.push(['uid', String(entry.uid)]);
  if (entry.gid > MAX_OCTAL_7) pax.push(['gid', String(entry.gid)]);
  if (entry.size > MAX_OCTAL_11) pax.push(['size', String(entry.size)]);
  if (entry.mtime < 0 || entry.mtime > MAX_OCTAL_11) pax.push(['mtime', String(entry.mtime)]);
  // Sorted, so that the same attributes always encode to the same bytes.
  for (const key of Object.keys(entry.xattrs ?? {}).sort()) pax.push([`${XATTR_PREFIX}${key}`, entry.xattrs![key]!]);
  if ((entry.devmajor ?? 0) > MAX_OCTAL_7 || (entry.devminor ?? 0) > MAX_OCTAL_7) {
    throw new UserError(`aci: device number of "${entry.path}" does not fit in a tar header`);
  }

  const ustar = ustarBlock({
    name: split?.name ?? name.subarray(0, 100),
    prefix: split?.prefix ?? Buffer.alloc(0),
    typeflag: TYPEFLAG[entry.type],
    mode: entry.mode & 0o7777,
    uid: Math.min(entry.uid, MAX_OCTAL_7),
    gid: Math.min(entry.gid, MAX_OCTAL_7),
    size: Math.min(entry.size, MAX_OCTAL_11),
    mtime: Math.min(Math.max(entry.mtime, 0), MAX_OCTAL_11),
    linkname: linkname.subarray(0, 100),
    devmajor: entry.devmajor ?? 0,
    devminor: entry.devminor ?? 0,
  });
  if (pax.length === 0) return ustar;
  return Buffer.concat([paxBlocks(pax, name, entry), ustar]);
}

/** Split a name into ustar's 155-byte prefix and 100-byte name at a "/", if it can be. */
function splitUstarName(name: Buffer): { name: Buffer; prefix: Buffer } | undefined {
  if (name.length <= 100) return { name, prefix: Buffer.alloc(0) };
  // A directory's trailing "/" must stay in the name part, so search before it.
  for (let i = name.lastIndexOf(0x2f, name.length - 2); i > 0; i = name.lastIndexOf(0x2f, i - 1)) {
    if (name.length - i - 1 > 100) return undefined;
    if (i <= 155) return { prefix: name.subarray(0, i), name: name.subarray(i + 1) };
  }
  return undefined;
}

interface UstarFields {
  name: Buffer;
  prefix: Buffer;
  typeflag: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  linkname: Buffer;
  devmajor: number;
  devminor: number;
}

function ustarBlock(f: UstarFields): Buffer {
  const block = Buffer.alloc(BLOCK);
  f.name.copy(block, 0);
  octal(block, 100, 8, f.mode);
  octal(block, 108, 8, f.uid);
  octal(block, 116, 8, f.gid);
  octal(block, 124, 12, f.size);
  octal(block, 136, 12, f.mtime);
  block.write(f.typeflag, 156, 'latin1');
  f.linkname.copy(block, 157);
  block.write('ustar\x0000', 257, 'latin1');
  octal(block, 329, 8, f.devmajor);
  octal(block, 337, 8, f.devminor);
  f.prefix.copy(block, 345);
  // The checksum is summed with its own field as spaces, then stored as 6 digits, NUL, space.
  block.fill(0x20, 148, 156);
  let sum = 0;
  for (const byte of block) sum += byte;
  block.write(`${sum.toString(8).padStart(6, '0')}\x00 `, 148, 'latin1');
  return block;
}

/** Zero-padded octal digits filling all but the last byte of the field, then NUL. */
function octal(block: Buffer, offset: number, width: number, value: number): void {
  block.write(`${value.toString(8).padStart(width - 1, '0')}\x00`, offset, 'latin1');
}

function paxBlocks(records: [string, string][], name: Buffer, entry: AciEntry): Buffer {
  const body = Buffer.concat(records.map(([key, value]) => paxRecord(key, value)));
  const base = name.subarray(name.lastIndexOf(0x2f, name.length - 2) + 1);
  const header = ustarBlock({
    name: Buffer.concat([Buffer.from('PaxHeaders/'), base]).subarray(0, 100),
    prefix: Buffer.alloc(0),
    typeflag: 'x',
    mode: 0o644,
    uid: 0,
    gid: 0,
    size: body.length,
    mtime: Math.min(Math.max(entry.mtime, 0), MAX_OCTAL_11),
    linkname: Buffer.alloc(0),
    devmajor: 0,
    devminor: 0,
  });
  return Buffer.concat([header, body, Buffer.alloc(paddingAfter(body.length))]);
}

/** "<length> <key>=<value>\n", where the length counts its own digits. */
function paxRecord(key: string, value: string): Buffer {
  const rest = Buffer.byteLength(` ${key}=${value}\n`);
  let length = rest + String(rest).length;
  if (String(length).length !== String(rest).length) length = rest + String(length).length;
  return Buffer.from(`${length} ${key}=${value}\n`);
}

/** Zero bytes that bring `size` up to a whole number of blocks. */
export function paddingAfter(size: number): number {
  return (BLOCK - (size % BLOCK)) % BLOCK;
}

/** Two zero blocks end a tar archive. */
export const END_OF_ARCHIVE = Buffer.alloc(2 * BLOCK);
