import { createReadStream } from 'node:fs';
import { open, readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { UserError } from '../../util/errors.ts';
import { platformProblem, type Host } from '../match.ts';
import type { ResolvedImage, SourceReader } from './fetch-image.ts';
import { configPlatform, parseImageConfig } from './image-config.ts';
import { checkDigest, CONFIG_LIMIT, MANIFEST_LIMIT, parseJson, parseManifestDocument, type Descriptor, type ImageManifestDoc, type ManifestDocument } from './media.ts';
import { appcPlatform, choosePlatform, platformText, type AppcPlatform } from './platform.ts';
import { appcIdentifier, appcName, isDigest, parseDockerReference } from './reference.ts';
import { checkLayers, layerLabel } from './registry-source.ts';

// oci:DIR[:REF] and oci:DIR@sha256:...: an OCI image layout (image-layout.md of the OCI
// image spec): oci-layout, index.json, blobs/<alg>/<hex>. REF picks the index.json
// entries whose org.opencontainers.image.ref.name is REF; a digest picks that manifest
// or index; neither takes every entry. An entry that is an index, or several entries
// for several platforms, are chosen from as a registry's index is. Every blob read is
// checked against its digest (layers as they are converted).

export const REF_NAME = 'org.opencontainers.image.ref.name';
const MAX_DEPTH = 4;

export function ociLayoutReader(dir: string, ref: string | undefined): SourceReader {
  const what = `oci:${dir}${ref === undefined ? '' : isDigest(ref) ? `@${ref}` : `:${ref}`}`;
  return {
    what,
    url: what,
    pinned: ref !== undefined && isDigest(ref),
    resolve: (host) => resolveLayout(dir, ref, host, what),
  };
}

async function resolveLayout(dir: string, ref: string | undefined, host: Host, what: string): Promise<ResolvedImage> {
  const layoutFile = await readFile(join(dir, 'oci-layout'), 'utf8').catch((err: NodeJS.ErrnoException) => {
    throw new UserError(`${what}: ${err.code === 'ENOENT' ? `${dir} is not an OCI image layout (it has no oci-layout file)` : err.message}`);
  });
  const version = parseJson(layoutFile, `${what}: oci-layout`)['imageLayoutVersion'];
  if (typeof version !== 'string' || !version.startsWith('1.')) throw new UserError(`${what}: image layout version ${JSON.stringify(version)} is not 1.x`);
  const indexBytes = await readLimited(join(dir, 'index.json'), MANIFEST_LIMIT, `${what}: index.json`);
  const index = parseManifestDocument(indexBytes, `${what}: index.json`);
  if (index.kind !== 'index') throw new UserError(`${what}: index.json is not an image index`);

  let entries: Descriptor[];
  if (ref === undefined) {
    entries = index.manifests;
  } else if (isDigest(ref)) {
    const listed = index.manifests.find((d) => d.digest === ref);
    entries = [listed ?? { mediaType: '', digest: ref, size: -1 }];
  } else {
    entries = index.manifests.filter((d) => refMatches(d.annotations?.[REF_NAME], ref));
    if (entries.length === 0) {
      const names = [...new Set(index.manifests.map((d) => d.annotations?.[REF_NAME]).filter((n): n is string => n !== undefined))];
      throw new UserError(`${what}: no image named "${ref}" in the layout; it has ${names.length > 0 ? names.map((n) => `"${n}"`).join(', ') : 'no named images'}`);
    }
  }
  if (entries.length === 0) throw new UserError(`${what}: the layout holds no image`);

  let refName = entries.length === 1 ? entries[0]!.annotations?.[REF_NAME] : undefined;
  refName ??= ref !== undefined && !isDigest(ref) ? ref : undefined;
  const picked = await pickManifest(dir, entries, host, what, 0);
  const { manifest, digest, platform: chosen } = picked;
  checkLayers(manifest.layers, what);
  const configBytes = await readBlob(dir, manifest.config, CONFIG_LIMIT, what);
  const config = parseImageConfig(configBytes, `${what}: config`);
  const platform = chosen ?? configPlatform(config, what);
  const problem = platformProblem(what, platform.os, platform.arch, host);
  if (problem) throw new UserError(problem);
  return {
    manifestDigest: digest,
    configDigest: manifest.config.digest,
    config,
    platform,
    naming: naming(dir, refName, digest, manifest.config.digest),
    layers: async () =>
      manifest.layers.map((desc, i) => ({
        label: layerLabel(i, manifest.layers.length, desc.digest),
        open: async () => createReadStream(blobPath(dir, desc.digest), { highWaterMark: 1 << 20 }),
        verify: { digest: desc.digest, of: 'blob' as const },
      })),
  };
}

/** Follows entries (an index, or one per platform) down to one image manifest for `host`. */
async function pickManifest(
  dir: string,
  entries: Descriptor[],
  host: Host,
  what: string,
  depth: number,
): Promise<{ manifest: ImageManifestDoc; digest: string; platform?: AppcPlatform }> {
  if (depth > MAX_DEPTH) throw new UserError(`${what}: indexes nested more than ${MAX_DEPTH} deep`);
  let entry: Descriptor;
  let platform: AppcPlatform | undefined;
  if (entries.length === 1) {
    entry = entries[0]!;
  } else {
    if (entries.some((e) => e.platform === undefined)) {
      throw new UserError(`${what}: the layout holds several images; name one (oci:DIR:REF or oci:DIR@sha256:...)`);
    }
    const choice = choosePlatform(what, entries, host);
    if ('problem' in choice) throw new UserError(choice.problem);
    entry = choice.entry;
  }
  if (entry.platform) {
    platform = appcPlatform(entry.platform);
    if (!platform) throw new UserError(`${what} is for ${platformText(entry.platform)}, which has no appc arch`);
  }
  const doc: ManifestDocument = parseManifestDocument(await readBlob(dir, entry, MANIFEST_LIMIT, what), `${what}: manifest ${entry.digest}`, entry.mediaType);
  if (doc.kind === 'index') {
    const inner = await pickManifest(dir, doc.manifests, host, what, depth + 1);
    return { ...inner, platform: inner.platform ?? platform };
  }
  return { manifest: doc, digest: entry.digest, ...(platform ? { platform } : {}) };
}

function refMatches(name: string | undefined, ref: string): boolean {
  if (name === undefined) return false;
  return name === ref || name.endsWith(`:${ref}`);
}

/** A full reference as ref name ("registry/app:1.0") names the image; a bare one ("1.0") is the version of the layout's directory name. */
function naming(dir: string, refName: string | undefined, digest: string, configDigest: string) {
  const provenance: Record<string, string> = { 'appc.io/docker/manifesthash': digest, 'appc.io/docker/imageid': configDigest };
  if (refName !== undefined && /[/:]/.test(refName)) {
    try {
      const ref = parseDockerReference(refName);
      return { name: appcName(ref.domain, ref.repository), ...(ref.tag !== undefined ? { version: ref.tag } : {}), provenance };
    } catch {
      // Not a Docker reference: named after the directory below.
    }
  }
  return { name: appcIdentifier(basename(dir)), ...(refName !== undefined ? { version: refName } : {}), provenance };
}

export function blobPath(dir: string, digest: string): string {
  if (!isDigest(digest)) throw new UserError(`"${digest}" is not a digest`);
  const [alg, hex] = digest.split(':') as [string, string];
  return join(dir, 'blobs', alg, hex);
}

/** A small blob, checked against its descriptor's size (when known) and digest. */
async function readBlob(dir: string, desc: Descriptor, limit: number, what: string): Promise<Buffer> {
  const max = desc.size >= 0 ? Math.min(desc.size, limit) : limit;
  if (desc.size > limit) throw new UserError(`${what}: blob ${desc.digest} is ${desc.size} bytes, more than the ${limit} allowed`);
  const bytes = await readLimited(blobPath(dir, desc.digest), max, `${what}: blob ${desc.digest}`);
  if (desc.size >= 0 && bytes.length !== desc.size) throw new UserError(`${what}: blob ${desc.digest} is ${bytes.length} bytes, not ${desc.size}`);
  checkDigest(bytes, desc.digest, `${what}: blob ${desc.digest}`);
  return bytes;
}

async function readLimited(path: string, limit: number, what: string): Promise<Buffer> {
  const handle = await open(path, 'r').catch((err: NodeJS.ErrnoException) => {
    throw new UserError(`${what}: ${err.code === 'ENOENT' ? 'missing' : err.message}`);
  });
  try {
    const buf = Buffer.alloc(limit + 1);
    let got = 0;
    for (;;) {
      const { bytesRead } = await handle.read(buf, got, buf.length - got, got);
      if (bytesRead === 0) break;
      got += bytesRead;
      if (got > limit) throw new UserError(`${what}: larger than ${limit} bytes`);
    }
    return buf.subarray(0, got);
  } finally {
    await handle.close();
  }
}
