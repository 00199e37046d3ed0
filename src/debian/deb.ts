import { open } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import type { AciEntry } from '../appc/aci-entry.ts';
import { entryFromHeader, entryTypeOf } from '../appc/aci-reader.ts';
import { decompressed } from '../appc/compression.ts';
import { normalizeEntryPath } from '../appc/tar-path.ts';
import { TreeRules, safeEntryPath } from '../appc/tree-rules.ts';
import { UserError } from '../util/errors.ts';
import { arMembers, type ArMember } from './ar.ts';
import { parseDeb822 } from './deb822.ts';
import { walkTar } from '../appc/tar-walk.ts';
import { unzstd } from './zstd-stream.ts';

// A .deb (deb(5)) read without dpkg, so that actool does it on macOS too: the ar
// members are streamed from the file, decompressed and walked as tars in one pass.

export interface DebControl {
  /** The control file's fields, keys lowercased (`package`, `version`, `depends`...). */
  control: Record<string, string>;
  /** The maintainer scripts the package carries, in the order of its control.tar. */
  maintainerScripts: string[];
}

/**
 * One data.tar member: `path` relative to the filesystem root (`usr/bin/busybox`), a
 * hard link's `linkname` likewise; a symlink's `linkname` as stored.
 */
export type OnDebEntry = (entry: AciEntry, body: Readable) => Promise<void>;

// What dpkg would run. A `triggers` file only declares interest in or activation of
// triggers, which the postinst of some package would process: nothing runs by itself.
const SCRIPTS = new Set(['preinst', 'postinst', 'prerm', 'postrm', 'config']);
// A control file is a few kB; a cap keeps a hostile one from filling memory.
const CONTROL_LIMIT = 1024 * 1024;
const COMPRESSIONS = new Set(['', '.gz', '.xz', '.zst', '.bz2']);

/** The control part of the .deb at `path`; its data.tar is not read. */
export async function readDebControl(path: string): Promise<DebControl> {
  return withDeb(path, (deb) => readControl(deb));
}

/** The control part of the .deb at `path`, after `onEntry` has seen each data.tar member. */
export async function readDeb(path: string, onEntry: OnDebEntry): Promise<DebControl> {
  return withDeb(path, async (deb) => {
    const control = await readControl(deb);
    await readData(deb, onEntry);
    return control;
  });
}

interface OpenDeb {
  label: string;
  control: ArMember;
  data: ArMember;
  /** A member's bytes, straight from the file. */
  stream(member: ArMember): Readable;
}

async function withDeb<T>(path: string, use: (deb: OpenDeb) => Promise<T>): Promise<T> {
  const file = await open(path, 'r');
  const streams: Readable[] = [];
  const stream = (member: ArMember): Readable => {
    // Empty members exist; a read stream cannot end before it starts. The file stays open for the next member.
    const s = member.size === 0 ? Readable.from([]) : file.createReadStream({ start: member.offset, end: member.offset + member.size - 1, autoClose: false });
    streams.push(s);
    return s;
  };
  try {
    const label = `deb: ${path}`;
    const members = await arMembers(file, label);
    const [version, control, data] = members;
    // dpkg insists on this order, so that a package can be read as a stream.
    if (version?.name !== 'debian-binary') throw new UserError(`${label}: not a Debian package (no debian-binary first)`);
    const text = (await buffer(stream(version))).toString('latin1');
    if (!/^2\.\d+\n/.test(text)) throw new UserError(`${label}: package format ${JSON.stringify(text.trim().slice(0, 10))} is not 2.x`);
    if (!control?.name.startsWith('control.tar')) throw new UserError(`${label}: no control.tar after debian-binary`);
    if (!data?.name.startsWith('data.tar')) throw new UserError(`${label}: no data.tar after ${control.name}`);
    return await use({ label, control, data, stream });
  } finally {
    // A walk that failed may leave a member's stream reading: it must not read a closed file.
    for (const s of streams) s.destroy();
    await file.close();
  }
}

async function readControl(deb: OpenDeb): Promise<DebControl> {
  let controlText: string | undefined;
  const maintainerScripts: string[] = [];
  // Nothing from control.tar is extracted, so its names only need to match.
  await walkTar(await unpacked(deb, deb.control), `${deb.label}: ${deb.control.name}`, async (header, body) => {
    const name = normalizeEntryPath(header.name);
    if (header.type !== 'file') return;
    if (name === 'control') {
      if (header.size > CONTROL_LIMIT) throw new UserError(`${deb.label}: control file is larger than ${CONTROL_LIMIT} bytes`);
      controlText = (await buffer(body())).toString('utf8');
    } else if (SCRIPTS.has(name)) {
      maintainerScripts.push(name);
    }
  });
  if (controlText === undefined) throw new UserError(`${deb.label}: ${deb.control.name} has no control file`);
  const paragraphs = parseDeb822(controlText);
  if (paragraphs.length !== 1) throw new UserError(`${deb.label}: control file has ${paragraphs.length} paragraphs, not 1`);
  return { control: paragraphs[0]!, maintainerScripts };
}

async function readData(deb: OpenDeb, onEntry: OnDebEntry): Promise<void> {
  const rules = new TreeRules(deb.label);
  await walkTar(await unpacked(deb, deb.data), `${deb.label}: ${deb.data.name}`, async (header, body) => {
    const type = entryTypeOf(header, deb.label);
    const path = safeEntryPath(header.name, deb.label);
    // "./", the root itself, carries nothing.
    if (path === '' && type === 'directory') return;
    rules.add(path, { name: header.name, type, size: header.size, linkname: header.linkname ?? undefined });
    const entry = entryFromHeader(path, type, header);
    if (type === 'link') entry.linkname = normalizeEntryPath(entry.linkname ?? '');
    await onEntry(entry, body());
  });
}

/** A control.tar or data.tar member, decompressed as its name says. */
async function unpacked(deb: OpenDeb, member: ArMember): Promise<Readable> {
  const suffix = member.name.replace(/^(control|data)\.tar/, '');
  if (!COMPRESSIONS.has(suffix)) throw new UserError(`${deb.label}: ${member.name} is compressed in a way rkt does not read`);
  const raw = deb.stream(member);
  // gzip, xz and bzip2 are recognised by their first bytes.
  return suffix === '.zst' ? unzstd(raw) : decompressed(raw);
}
