import { createReadStream } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { text } from 'node:stream/consumers';
import { decompressed } from '../appc/compression.ts';
import { unsafePathReason } from '../appc/tar-path.ts';
import type { DownloadOptions } from '../fetch/download.ts';
import { UserError } from '../util/errors.ts';
import { readDebControl } from './deb.ts';
import { parseDeb822 } from './deb822.ts';
import { packagesFrom } from './packages-index.ts';
import { loadKeyring, strictClearsigned, verifyDetachedRelease, verifyInRelease } from './release-signature.ts';
import { parseRelease, type IndexFile, type Release } from './release.ts';
import { RepoFiles, sha256File, verifyFile } from './repo-files.ts';
import type { PackageInfo, RepoSource } from './types.ts';

// Packages from a repository, trusted as apt trusts them: the suite's Release is
// signed by a key of the source's keyring, the Packages index matches the Release's
// SHA-256, and each .deb matches the index's.

export interface RepoOptions {
  /** Where downloaded indexes and .debs are kept, named by SHA-256; without it, indexes go to a temporary directory. */
  cacheDir?: string;
  http?: DownloadOptions;
  /**
   * The user passed --insecure-options=image: a source with no keyring is used without
   * checking its Release signature (checksums are still checked). The caller announces it.
   */
  insecure?: boolean;
  /**
   * The control paragraphs of folders of .debs already read, by directory: arches built
   * at once then read and hash each .deb of a folder once, not once per arch.
   */
  folderIndexes?: Map<string, Promise<Record<string, string>[]>>;
}

/**
 * A source that does not carry the arch at all (bookworm-security has no armel). apt
 * skips such a source; the caller does too, failing only when no source has the arch.
 */
export class ArchNotInSource extends UserError {}

/** The packages of `src` that install on `debArch` (its own and arch:all ones). */
export async function loadIndex(src: RepoSource, debArch: string, opts: RepoOptions = {}): Promise<PackageInfo[]> {
  const files = new RepoFiles(src.uri, opts.http);
  if (src.suite === undefined) return indexDebDirectory(files, src, debArch, opts.folderIndexes);
  if (src.suite.endsWith('/')) throw new UserError(`cross: ${src.uri} ${src.suite}: flat repositories are not supported; give a suite under dists/`);
  if (src.architectures !== undefined && !src.architectures.includes(debArch)) {
    throw new ArchNotInSource(`cross: ${debArch}: ${src.uri} ${src.suite} is for ${src.architectures.join(', ')} only`);
  }
  if (opts.cacheDir !== undefined) await mkdir(opts.cacheDir, { recursive: true });
  const work = await mkdtemp(join(opts.cacheDir ?? tmpdir(), 'index-'));
  try {
    const dists = `dists/${src.suite}/`;
    const release = await loadRelease(files, src, dists, work, opts);
    const releaseUrl = files.where(`${dists}Release`);
    if (release.architectures !== undefined && !release.architectures.includes(debArch)) {
      throw new ArchNotInSource(`cross: ${debArch}: ${releaseUrl}: the repository has no ${debArch} packages (it has ${release.architectures.join(', ')})`);
    }
    const store = opts.cacheDir !== undefined ? storeOf(opts.cacheDir) : work;
    const byKey = new Map<string, PackageInfo>();
    for (const component of src.components ?? release.components) {
      const arches = release.allInArchIndexes ? [debArch] : [debArch, 'all'];
      for (const arch of arches) {
        const index = pickIndex(release, `${component}/binary-${arch}/`);
        if (index === undefined) {
          if (arch === 'all') continue;
          throw new UserError(`cross: ${debArch}: ${releaseUrl}: lists no ${component}/binary-${debArch}/Packages index`);
        }
        const path = await files.verified(`${dists}${index.path}`, index.file, { label: debArch, authority: 'Release' }, store);
        const paragraphs = parseDeb822(await text(await decompressed(createReadStream(path))));
        // Debian lists arch:all packages in both indexes; one copy of each will do.
        for (const pkg of packagesFrom(paragraphs, debArch)) byKey.set(`${pkg.name} ${pkg.version} ${pkg.architecture}`, pkg);
      }
    }
    return [...byKey.values()];
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

export interface FetchDebOptions extends RepoOptions {
  cacheDir: string;
}

/** The local path of `pkg`'s .deb, checked against its Size and SHA256 (downloaded into the cache first if remote). */
export async function fetchDeb(src: RepoSource, pkg: PackageInfo, opts: FetchDebOptions): Promise<string> {
  const check = { label: pkg.architecture, authority: 'Packages' };
  // A folder of .deb files: indexDebDirectory gave the absolute path and the hash it read.
  if (src.suite === undefined) {
    await verifyFile(pkg.filename, pkg.filename, pkg, check);
    return pkg.filename;
  }
  const files = new RepoFiles(src.uri, opts.http);
  const where = files.where(pkg.filename);
  const unsafe = unsafePathReason(pkg.filename);
  if (unsafe) throw new UserError(`cross: ${pkg.architecture}: ${pkg.name}: Filename "${pkg.filename}" ${unsafe}`);
  if (pkg.sha256 === undefined && !opts.insecure) {
    throw new UserError(`cross: ${pkg.architecture}: ${where}: the Packages index gives no SHA256 for it; pass --insecure-options=image to use it unchecked`);
  }
  return files.verified(pkg.filename, pkg, check, storeOf(opts.cacheDir));
}

function storeOf(cacheDir: string): string {
  return join(cacheDir, 'by-sha256');
}

/** The verified text of the suite's Release: InRelease, else Release with Release.gpg. */
async function loadRelease(files: RepoFiles, src: RepoSource, dists: string, work: string, opts: RepoOptions): Promise<Release> {
  const keyring = await loadKeyring(src);
  const inReleaseUrl = files.where(`${dists}InRelease`);
  if (keyring === undefined && !opts.insecure) {
    throw new UserError(`cross: ${inReleaseUrl}: no keyring to check its signature with; give the repository one (signed-by), or pass --insecure-options=image to use it unchecked`);
  }
  const inRelease = await files.small(`${dists}InRelease`, work);
  if (inRelease !== undefined) {
    const signed = keyring ? await verifyInRelease(inRelease.toString('utf8'), keyring, inReleaseUrl) : strictClearsigned(inRelease.toString('utf8'), inReleaseUrl);
    return parseRelease(signed, inReleaseUrl);
  }
  const releaseUrl = files.where(`${dists}Release`);
  const release = await files.small(`${dists}Release`, work);
  if (release === undefined) throw new UserError(`cross: ${files.where(dists)}: no InRelease or Release file; is the suite "${src.suite}" right?`);
  if (keyring !== undefined) {
    const signature = await files.small(`${dists}Release.gpg`, work);
    if (signature === undefined) throw new UserError(`cross: ${releaseUrl}: not signed (no InRelease, no Release.gpg)`);
    await verifyDetachedRelease(release, signature, keyring, releaseUrl);
  }
  return parseRelease(release.toString('utf8'), releaseUrl);
}

// apt's preference: the smallest download it can decompress.
const INDEX_NAMES = ['Packages.xz', 'Packages.gz', 'Packages'];

function pickIndex(release: Release, dir: string): { path: string; file: IndexFile } | undefined {
  for (const name of INDEX_NAMES) {
    const file = release.files.get(`${dir}${name}`);
    if (file) return { path: `${dir}${name}`, file };
  }
  return undefined;
}

/** A plain folder of .deb files: each is indexed from its control file. */
async function indexDebDirectory(files: RepoFiles, src: RepoSource, debArch: string, known = new Map<string, Promise<Record<string, string>[]>>()): Promise<PackageInfo[]> {
  if (files.local === undefined) throw new UserError(`cross: ${src.uri}: a remote repository needs a suite`);
  const dir = files.local;
  if (!known.has(dir)) known.set(dir, debParagraphs(dir));
  return packagesFrom(await known.get(dir)!, debArch);
}

/** Each .deb's control paragraph, with the Filename, Size and SHA256 an index would give. */
async function debParagraphs(dir: string): Promise<Record<string, string>[]> {
  const paragraphs: Record<string, string>[] = [];
  for (const name of (await readdir(dir)).filter((n) => n.endsWith('.deb')).sort()) {
    const path = join(dir, name);
    const { control } = await readDebControl(path);
    paragraphs.push({ ...control, filename: path, size: String((await stat(path)).size), sha256: await sha256File(path) });
  }
  return paragraphs;
}
