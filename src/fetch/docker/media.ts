import { createHash } from 'node:crypto';
import { UserError } from '../../util/errors.ts';
import type { OciPlatform } from './platform.ts';
import { isDigest } from './reference.ts';

// The JSON documents of Docker and OCI images (manifests, indexes, descriptors) as read
// from an untrusted registry, archive or layout: checked field by field, with limits. Pure.

export const MEDIA = {
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerSchema1: 'application/vnd.docker.distribution.manifest.v1+json',
  dockerSchema1Signed: 'application/vnd.docker.distribution.manifest.v1+prettyjws',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
} as const;

/** The Accept header of a manifest request: every form we read, so the registry does not downgrade to schema 1. */
export const MANIFEST_ACCEPT = [MEDIA.ociIndex, MEDIA.dockerList, MEDIA.ociManifest, MEDIA.dockerManifest].join(', ');

/** Manifests and indexes are small; a hostile server could send forever. */
export const MANIFEST_LIMIT = 4 * 1024 * 1024;
/** An image config holds history and environment, never file data. */
export const CONFIG_LIMIT = 8 * 1024 * 1024;
const MAX_LAYERS = 500;
const MAX_INDEX_ENTRIES = 1000;

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: OciPlatform;
  annotations?: Record<string, string>;
  urls?: string[];
}

export interface ImageIndex {
  kind: 'index';
  mediaType: string;
  manifests: Descriptor[];
}

export interface ImageManifestDoc {
  kind: 'manifest';
  mediaType: string;
  config: Descriptor;
  layers: Descriptor[];
  annotations?: Record<string, string>;
}

export type ManifestDocument = ImageIndex | ImageManifestDoc;

type Json = Record<string, unknown>;

function fail(what: string, why: string): never {
  throw new UserError(`${what}: ${why}`);
}

export function parseJson(bytes: Uint8Array | string, what: string): Json {
  let value: unknown;
  try {
    value = JSON.parse(typeof bytes === 'string' ? bytes : Buffer.from(bytes).toString('utf8'));
  } catch (err) {
    fail(what, `not JSON (${(err as Error).message})`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) fail(what, 'not a JSON object');
  return value as Json;
}

/**
 * A manifest or an index. `headerType` is the Content-Type the registry sent, used when
 * the document does not say its own mediaType (Docker's manifest lists always do; OCI's may not).
 */
export function parseManifestDocument(bytes: Uint8Array, what: string, headerType?: string): ManifestDocument {
  const doc = parseJson(bytes, what);
  const declared = typeof doc['mediaType'] === 'string' ? doc['mediaType'] : undefined;
  const header = headerType?.split(';')[0]?.trim();
  const mediaType = declared ?? (header && header !== 'application/json' && header !== 'application/octet-stream' ? header : undefined);
  if (doc['schemaVersion'] === 1 || mediaType === MEDIA.dockerSchema1 || mediaType === MEDIA.dockerSchema1Signed) {
    fail(what, 'is a Docker schema 1 manifest, which is deprecated and not supported; push the image again with a current Docker or skopeo');
  }
  if (doc['schemaVersion'] !== 2) fail(what, `schemaVersion is ${JSON.stringify(doc['schemaVersion'])}, not 2`);
  const isIndex = mediaType === MEDIA.ociIndex || mediaType === MEDIA.dockerList || (mediaType === undefined && Array.isArray(doc['manifests']));
  if (isIndex) {
    const list = doc['manifests'];
    if (!Array.isArray(list)) fail(what, 'an index without a "manifests" list');
    if (list.length > MAX_INDEX_ENTRIES) fail(what, `more than ${MAX_INDEX_ENTRIES} entries`);
    return { kind: 'index', mediaType: mediaType ?? MEDIA.ociIndex, manifests: list.map((d, i) => parseDescriptor(d, `${what}: manifests[${i}]`)) };
  }
  if (mediaType !== undefined && mediaType !== MEDIA.ociManifest && mediaType !== MEDIA.dockerManifest) {
    fail(what, `media type ${mediaType} is not an image manifest or index`);
  }
  const layers = doc['layers'];
  if (!Array.isArray(layers)) fail(what, 'a manifest without a "layers" list');
  if (layers.length > MAX_LAYERS) fail(what, `more than ${MAX_LAYERS} layers`);
  const manifest: ImageManifestDoc = {
    kind: 'manifest',
    mediaType: mediaType ?? MEDIA.ociManifest,
    config: parseDescriptor(doc['config'], `${what}: config`),
    layers: layers.map((d, i) => parseDescriptor(d, `${what}: layers[${i}]`)),
  };
  const annotations = stringMap(doc['annotations'], `${what}: annotations`);
  if (annotations) manifest.annotations = annotations;
  return manifest;
}

export function parseDescriptor(value: unknown, what: string): Descriptor {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) fail(what, 'not an object');
  const d = value as Json;
  const mediaType = typeof d['mediaType'] === 'string' ? d['mediaType'] : '';
  const digest = d['digest'];
  if (typeof digest !== 'string' || !isDigest(digest)) fail(what, `digest ${JSON.stringify(digest)} is not sha256: or sha512: with its hex digits`);
  const size = d['size'];
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) fail(what, `size ${JSON.stringify(size)} is not a byte count`);
  const out: Descriptor = { mediaType, digest, size };
  const platform = d['platform'];
  if (platform !== undefined) {
    if (typeof platform !== 'object' || platform === null) fail(what, 'platform is not an object');
    const p = platform as Json;
    if (typeof p['os'] !== 'string' || typeof p['architecture'] !== 'string') fail(what, 'platform needs os and architecture');
    out.platform = { os: p['os'], architecture: p['architecture'], ...(typeof p['variant'] === 'string' && p['variant'] !== '' ? { variant: p['variant'] } : {}) };
  }
  const annotations = stringMap(d['annotations'], `${what}: annotations`);
  if (annotations) out.annotations = annotations;
  if (Array.isArray(d['urls'])) out.urls = d['urls'].filter((u): u is string => typeof u === 'string');
  return out;
}

function stringMap(value: unknown, what: string): Record<string, string> | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'object' || Array.isArray(value)) fail(what, 'not an object');
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(value as Json)) if (typeof v === 'string') out[k] = v;
  return out;
}

/** How a layer blob is compressed, by its first bytes (a media type may lie, a docker-archive has none). */
export type LayerCompression = 'gzip' | 'zstd' | 'none';

export function sniffLayer(head: Uint8Array): LayerCompression {
  if (head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (head[0] === 0x28 && head[1] === 0xb5 && head[2] === 0x2f && head[3] === 0xfd) return 'zstd';
  return 'none';
}

/** Layers that are not file system changes we can apply. */
export function refusedLayerType(mediaType: string): string | undefined {
  if (mediaType.includes('foreign') || mediaType.includes('nondistributable')) {
    return 'is a foreign (Windows base) layer, which is not fetched from this registry';
  }
  if (/encrypted/.test(mediaType)) return 'is encrypted';
  return undefined;
}

/** The digest of `bytes` in the algorithm `digest` names. */
export function digestOf(bytes: Uint8Array, algorithm: 'sha256' | 'sha512' = 'sha256'): string {
  return `${algorithm}:${createHash(algorithm).update(bytes).digest('hex')}`;
}

export function algorithmOf(digest: string): 'sha256' | 'sha512' {
  return digest.startsWith('sha512:') ? 'sha512' : 'sha256';
}

/** Checks that `bytes` are what `digest` names. */
export function checkDigest(bytes: Uint8Array, digest: string, what: string): void {
  const got = digestOf(bytes, algorithmOf(digest));
  if (got !== digest) fail(what, `content has digest ${got}, not ${digest}: refusing it`);
}
