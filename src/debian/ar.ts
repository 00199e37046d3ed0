import type { FileHandle } from 'node:fs/promises';
import { UserError } from '../util/errors.ts';

// The `ar` container of a .deb (deb(5)): an 8-byte magic, then members, each a 60-byte
// text header and its data padded to an even length. Only the headers are read here;
// members are streamed from their offsets, so a large data.tar is never held in memory.

export interface ArMember {
  name: string;
  /** Where the member's data starts in the file. */
  offset: number;
  size: number;
}

const MAGIC = '!<arch>\n';
const HEADER = 60;

/** The members of the ar archive open in `file`, in order. `what` names it in errors. */
export async function arMembers(file: FileHandle, what: string): Promise<ArMember[]> {
  const { size: fileSize } = await file.stat();
  const bad = (why: string) => new UserError(`${what}: ${why}`);
  if ((await readAt(file, 0, MAGIC.length)).toString('latin1') !== MAGIC) throw bad('not a Debian package (no ar archive header)');
  const members: ArMember[] = [];
  for (let pos = MAGIC.length; pos < fileSize; ) {
    const header = await readAt(file, pos, HEADER);
    if (header.length < HEADER) throw bad(`truncated ar header at byte ${pos}`);
    const text = header.toString('latin1');
    if (text.slice(58, 60) !== '`\n') throw bad(`broken ar header at byte ${pos}`);
    const sizeField = text.slice(48, 58).trim();
    if (!/^\d+$/.test(sizeField)) throw bad(`ar member at byte ${pos} has a size of "${sizeField}"`);
    const size = Number(sizeField);
    const offset = pos + HEADER;
    // GNU ar ends names with "/"; dpkg-deb pads them with spaces.
    const name = text.slice(0, 16).trimEnd().replace(/\/$/, '');
    if (offset + size > fileSize) throw bad(`ar member "${name}" is truncated`);
    members.push({ name, offset, size });
    pos = offset + size + (size % 2);
  }
  return members;
}

async function readAt(file: FileHandle, position: number, length: number): Promise<Buffer> {
  const buf = Buffer.alloc(length);
  const { bytesRead } = await file.read(buf, 0, length, position);
  return buf.subarray(0, bytesRead);
}
