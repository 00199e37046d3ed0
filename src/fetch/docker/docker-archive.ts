import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { basename, join, posix } from 'node:path';
import type { Readable } from 'node:stream';
import { decompressed } from '../../appc/compression.ts';
import { walkTar } from '../../appc/tar-walk.ts';
import { UserError } from '../../util/errors.ts';
import { platformProblem, type Host } from '../match.ts';
import type { ResolvedImage, SourceReader } from './fetch-image.ts';
import { configPlatform, parseImageConfig } from './image-config.ts';
import { CONFIG_LIMIT, digestOf } from './media.ts';
import { appcIdentifier, appcName, parseDockerReference } from './reference.ts';

// docker-archive:PATH[:NAME:TAG|:@N]: the tar `docker save` writes (plain or compressed):
// manifest.json lists each image's config file, RepoTags and layer tars (paths in the
// archive, which older Dockers link to each other with symlinks). The archive is read
// twice: once for manifest.json and the configs (layer bodies skipped), which is enough
// to tell whether the conversion is stored already; then, to convert, once more to copy
// the image's layers out to the fetch's temporary directory, since they may be in any
// order in the archive. Each layer's uncompressed tar is checked against the config's
// rootfs.diff_ids, and the config against its file name when that is its digest.

interface ArchiveImage {
  Config: string;
  RepoTags: string[];
  Layers: string[];
}

/** Small members (JSON) are kept from the first pass, up to this much in all. */
const SMALL_BUDGET = 32 * 1024 * 1024;

export function dockerArchiveReader(path: string, ref: string | undefined): SourceReader {
  const what = `docker-archive:${path}${ref === undefined ? '' : `:${ref}`}`;
  return { what, url: what, pinned: false, resolve: (host) => resolveArchive(path, ref, host, what) };
}

async function resolveArchive(path: string, ref: string | undefined, host: Host, what: string): Promise<ResolvedImage> {
  const scan = await scanArchive(path, what);
  const manifestBytes = scan.small.get('manifest.json');
  if (!manifestBytes) throw new UserError(`${what}: no manifest.json in the archive (is it the output of docker save?)`);
  const images = parseArchiveManifest(manifestBytes, what);
  const image = pickImage(images, ref, what);
  const configPath = scan.resolve(image.Config, what);
  const configBytes = scan.small.get(configPath);
  if (!configBytes) throw new UserError(`${what}: config ${image.Config} is missing from the archive or larger than ${CONFIG_LIMIT} bytes`);
  const configDigest = digestOf(configBytes);
  const named = /^(?:blobs\/sha256\/)?([0-9a-f]{64})(?:\.json)?$/.exec(configPath)?.[1];
  if (named !== undefined && `sha256:${named}` !== configDigest) {
    throw new UserError(`${what}: config ${image.Config} has digest ${configDigest}: refusing it`);
  }
  const config = parseImageConfig(configBytes, `${what}: config`);
  const platform = configPlatform(config, what);
  const problem = platformProblem(what, platform.os, platform.arch, host);
  if (problem) throw new UserError(problem);
  const diffIds = config.diffIds.length === image.Layers.length ? config.diffIds : undefined;
  if (!diffIds) throw new UserError(`${what}: the config lists ${config.diffIds.length} layers, manifest.json ${image.Layers.length}`);
  const layerPaths = image.Layers.map((l) => scan.resolve(l, what));
  return {
    manifestDigest: configDigest,
    configDigest,
    config,
    platform,
    naming: naming(path, image.RepoTags[0], configDigest),
    layers: async (tmp) => {
      const files = await extractMembers(path, new Set(layerPaths), tmp, what);
      return layerPaths.map((p, i) => {
        const file = files.get(p);
        if (file === undefined) throw new UserError(`${what}: layer ${image.Layers[i]} is missing from the archive`);
        return {
          label: `layer ${i + 1}/${layerPaths.length} (${image.Layers[i]})`,
          open: async () => createReadStream(file, { highWaterMark: 1 << 20 }),
          verify: { digest: diffIds[i]!, of: 'tar' as const },
        };
      });
    },
  };
}

export function parseArchiveManifest(bytes: Buffer, what: string): ArchiveImage[] {
  let doc: unknown;
  try {
    doc = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new UserError(`${what}: manifest.json is not JSON`);
  }
  if (!Array.isArray(doc) || doc.length === 0) throw new UserError(`${what}: manifest.json lists no image`);
  return doc.map((item, i) => {
    const d = (item ?? {}) as Record<string, unknown>;
    const layers = d['Layers'];
    if (typeof d['Config'] !== 'string' || !Array.isArray(layers) || layers.some((l) => typeof l !== 'string')) {
      throw new UserError(`${what}: manifest.json entry ${i} needs Config and Layers`);
    }
    const tags = Array.isArray(d['RepoTags']) ? d['RepoTags'].filter((t): t is string => typeof t === 'string') : [];
    return { Config: d['Config'], RepoTags: tags, Layers: layers as string[] };
  });
}

/** The image `ref` names: "@N" (its place in manifest.json), a NAME:TAG among RepoTags, or the only one. */
export function pickImage(images: ArchiveImage[], ref: string | undefined, what: string): ArchiveImage {
  const tags = images.flatMap((i) => i.RepoTags);
  if (ref === undefined) {
    if (images.length === 1) return images[0]!;
    throw new UserError(`${what}: the archive holds ${images.length} images; name one (docker-archive:PATH:NAME:TAG or :@N): ${tags.join(', ') || 'none is tagged'}`);
  }
  const index = /^@(\d+)$/.exec(ref);
  if (index) {
    const image = images[Number(index[1])];
    if (!image) throw new UserError(`${what}: the archive holds ${images.length} images, no @${index[1]}`);
    return image;
  }
  const key = (t: string) => {
    try {
      const r = parseDockerReference(t);
      return `${r.domain}/${r.repository}:${r.tag ?? ''}`;
    } catch {
      return t;
    }
  };
  const want = key(ref);
  const image = images.find((i) => i.RepoTags.some((t) => key(t) === want));
  if (!image) throw new UserError(`${what}: no image tagged ${ref} in the archive; it has ${tags.join(', ') || 'no tags'}`);
  return image;
}

function naming(path: string, repoTag: string | undefined, configDigest: string) {
  const provenance: Record<string, string> = { 'appc.io/docker/imageid': configDigest };
  if (repoTag !== undefined) {
    try {
      const ref = parseDockerReference(repoTag);
      provenance['appc.io/docker/registryurl'] = ref.domain;
      provenance['appc.io/docker/repository'] = ref.repository;
      if (ref.tag !== undefined) provenance['appc.io/docker/tag'] = ref.tag;
      return { name: appcName(ref.domain, ref.repository), ...(ref.tag !== undefined ? { version: ref.tag } : {}), provenance };
    } catch {
      // An odd tag: named after the file.
    }
  }
  return { name: appcIdentifier(basename(path).replace(/\.(tar|tar\.gz|tgz)$/, '')), provenance };
}

interface Scan {
  /** Regular members of at most CONFIG_LIMIT bytes that look like JSON or blobs, by normalized path. */
  small: Map<string, Buffer>;
  /** The regular member a path names, after the archive's symlinks and hard links. */
  resolve(path: string, what: string): string;
}

async function scanArchive(path: string, what: string): Promise<Scan> {
  const small = new Map<string, Buffer>();
  const links = new Map<string, string>();
  let budget = SMALL_BUDGET;
  await walkTar(await openArchive(path, what), what, async (header, body) => {
    const name = normalize(header.name);
    if (name === undefined) return;
    if (header.type === 'symlink' || header.type === 'link') {
      const target = header.type === 'symlink' ? normalize(posix.join(posix.dirname(name), header.linkname ?? '')) : normalize(header.linkname ?? '');
      if (target !== undefined) links.set(name, target);
      return;
    }
    if (header.type !== 'file' && header.type !== 'contiguous-file') return;
    const wanted = name === 'manifest.json' || name.endsWith('.json') || /^blobs\/sha256\/[0-9a-f]{64}$/.test(name);
    if (!wanted || header.size > CONFIG_LIMIT || header.size > budget) return;
    // Layer blobs of a newer `docker save` also live in blobs/: only JSON is kept.
    const bytes = await readAll(body());
    if (name.startsWith('blobs/') && bytes[0] !== 0x7b) return;
    budget -= bytes.length;
    small.set(name, bytes);
  });
  return {
    small,
    resolve(p, w) {
      let name = normalize(p);
      for (let hops = 0; name !== undefined && links.has(name); hops++) {
        if (hops > 40) throw new UserError(`${w}: ${p} goes through too many links`);
        name = links.get(name);
      }
      if (name === undefined) throw new UserError(`${w}: "${p}" points outside the archive`);
      return name;
    },
  };
}

/** Copies the regular members named in `wanted` to files in `dir`. */
async function extractMembers(path: string, wanted: Set<string>, dir: string, what: string): Promise<Map<string, string>> {
  const files = new Map<string, string>();
  let n = 0;
  await walkTar(await openArchive(path, what), what, async (header, body) => {
    const name = normalize(header.name);
    if (name === undefined || !wanted.has(name) || files.has(name)) return;
    if (header.type !== 'file' && header.type !== 'contiguous-file') return;
    const file = join(dir, `archive-layer-${n++}`);
    const handle = await open(file, 'wx', 0o600);
    try {
      for await (const chunk of body() as AsyncIterable<Buffer>) await handle.write(chunk);
    } finally {
      await handle.close();
    }
    files.set(name, file);
  });
  return files;
}

async function openArchive(path: string, what: string): Promise<Readable> {
  const handle = await open(path, 'r').catch((err: NodeJS.ErrnoException) => {
    throw new UserError(`${what}: ${err.code === 'ENOENT' ? 'no such file' : err.message}`);
  });
  return decompressed(handle.createReadStream({ highWaterMark: 1 << 20 }));
}

/** A member name in normal form, or undefined when it climbs out of the archive. */
function normalize(name: string): string | undefined {
  const parts: string[] = [];
  for (const part of name.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (parts.length === 0) return undefined;
      parts.pop();
    } else parts.push(part);
  }
  return parts.join('/');
}

async function readAll(body: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of body as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks);
}
