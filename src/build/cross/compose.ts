import { closeSync, openSync, readlinkSync, statSync, write, type Stats } from 'node:fs';
import type { Readable } from 'node:stream';
import { promisify } from 'node:util';
import type { AciEntry } from '../../appc/aci-entry.ts';
import type { TarMember } from '../../appc/tar-writer.ts';
import { walkTree } from '../../appc/tree-walk.ts';
import { readDeb } from '../../debian/deb.ts';
import { UserError, withContext } from '../../util/errors.ts';
import type { FileSpec } from './spec.ts';
import { RootTree } from './tree.ts';

const writeAsync = promisify(write);

// One arch's image as tar members, without unpacking anything to disk (no root needed,
// no chown, no device nodes, no case-insensitive macOS filesystem in the way). Package
// file bodies go to one append-only spool file, read back by offset while the tar is
// written: several arches are built at once and a package set can be hundreds of MB,
// too much to hold in memory on a small machine; one spool file instead of a file per
// body keeps tens of thousands of small files from costing an open and close each.
// The spec's files are read from where they are when the tar is written.

// Errors name the package or the spec's file entry; the caller adds the arch in front.
export interface ComposeInput {
  /** The .deb files in install order. */
  debs: { name: string; path: string }[];
  files: SpecFile[];
  manifest: Buffer;
  sourceDateEpoch: number | undefined;
  /** The time of entries that have none of their own (the manifest, implicit directories). */
  now: number;
  /** A new file to spool package contents to. */
  spool: string;
  /** Says that a package's maintainer scripts were not run. */
  warn(message: string): void;
}

/** One of the spec's files for this arch. */
export interface SpecFile {
  /** Its place in the spec's list, for errors: files[2]. */
  index: number;
  spec: FileSpec;
  /** `from` with its placeholders filled, as the user wrote it. */
  from: string;
  /** The same, absolute. */
  abs: string;
}

export interface ComposedImage {
  members: TarMember[];
  /** Closes the spool, once the tar is written. */
  close(): void;
}

export async function composeImage(input: ComposeInput): Promise<ComposedImage> {
  const time = clamp(input.now, input.sourceDateEpoch);
  const tree = new RootTree(time);
  const spool = new Spool(input.spool);
  try {
    for (const deb of input.debs) await addPackage(tree, spool, deb, input);
    for (const file of input.files) addSpecFile(tree, file, input);
  } catch (err) {
    spool.close();
    throw err;
  }
  const dir: AciEntry = { path: 'rootfs', type: 'directory', mode: 0o755, uid: 0, gid: 0, mtime: time, size: 0 };
  const manifest: TarMember = { entry: { ...dir, path: 'manifest', type: 'file', mode: 0o644, size: input.manifest.length }, content: input.manifest };
  return { members: [manifest, ...tree.members(dir)], close: () => spool.close() };
}

async function addPackage(tree: RootTree, spool: Spool, deb: { name: string; path: string }, input: ComposeInput): Promise<void> {
  const origin = `package ${deb.name}`;
  const { maintainerScripts } = await readDeb(deb.path, async (entry, body) => {
    const mtime = clamp(entry.mtime, input.sourceDateEpoch);
    if (entry.type !== 'file') return tree.add({ ...entry, mtime }, undefined, origin);
    const position = await spool.append(body, entry.size, `${origin}: /${entry.path}`);
    tree.add({ ...entry, mtime }, { span: { fd: spool.fd, position } }, origin);
  }).catch((err: unknown) => {
    throw withContext(origin, err, 'cross: ');
  });
  if (maintainerScripts.length > 0) {
    input.warn(`${origin}: maintainer scripts not run: ${maintainerScripts.join(', ')}`);
  }
}

function addSpecFile(tree: RootTree, file: SpecFile, input: ComposeInput): void {
  const origin = `files[${file.index}]`;
  // The named source is followed if it is a symlink (build/app-latest -> app-1.2); below
  // a named directory, symlinks are kept as symlinks.
  const top = statOrFail(file.abs, `${origin}: from "${file.from}"`);
  const to = file.spec.to.replace(/^\/+/, '').replace(/\/+$/, '');
  const walked = top.isDirectory() ? walkTree(file.abs, to) : [{ path: to, abs: file.abs, stats: top }];
  for (const w of walked) {
    const entry = specEntry(w.path, w.abs, w.stats, input.sourceDateEpoch, `${origin}: "${file.from}"`);
    if (w.abs === file.abs && file.spec.mode !== undefined) entry.mode = file.spec.mode;
    tree.add(entry, entry.type === 'file' ? { abs: w.abs } : undefined, origin);
  }
}

/** A spec file's entry: owned by root whoever builds, mode and (clamped) mtime kept. */
function specEntry(path: string, abs: string, stats: Pick<Stats, 'mode' | 'size' | 'mtimeMs' | 'isFile' | 'isDirectory' | 'isSymbolicLink'>, epoch: number | undefined, what: string): AciEntry {
  const common = { path, mode: stats.mode & 0o7777, uid: 0, gid: 0, mtime: clamp(Math.floor(stats.mtimeMs / 1000), epoch), size: 0 };
  if (stats.isFile()) return { ...common, type: 'file', size: stats.size };
  if (stats.isDirectory()) return { ...common, type: 'directory' };
  if (stats.isSymbolicLink()) return { ...common, type: 'symlink', linkname: readlinkSync(abs) };
  throw new UserError(`${what}: "${abs}" is not a file, directory or symlink`);
}

function statOrFail(abs: string, what: string): Stats {
  try {
    return statSync(abs);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new UserError(`${what} does not exist (${abs})`);
    throw err;
  }
}

function clamp(mtime: number, epoch: number | undefined): number {
  return epoch === undefined ? mtime : Math.min(mtime, epoch);
}

/** An append-only file of package bodies, written as the .debs are read, then read by offset. */
class Spool {
  /** Open for reading and writing from the start, so members can name it at once. */
  readonly fd: number;
  #size = 0;

  constructor(path: string) {
    this.fd = openSync(path, 'wx+', 0o600);
  }

  /** Appends a body of `size` bytes; returns where it starts. */
  async append(body: Readable, size: number, what: string): Promise<number> {
    const start = this.#size;
    for await (const chunk of body as AsyncIterable<Buffer>) {
      await writeAll(this.fd, chunk, this.#size);
      this.#size += chunk.length;
    }
    if (this.#size - start !== size) throw new UserError(`${what}: holds ${this.#size - start} bytes where its header says ${size}`);
    return start;
  }

  close(): void {
    closeSync(this.fd);
  }
}

async function writeAll(fd: number, chunk: Buffer, position: number): Promise<void> {
  for (let done = 0; done < chunk.length; ) {
    const { bytesWritten } = await writeAsync(fd, chunk, done, chunk.length - done, position + done);
    done += bytesWritten;
  }
}
