import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { buffer } from 'node:stream/consumers';
import { gzipSync } from 'node:zlib';
import { pack } from 'tar-stream';
import type { RktContext } from '../../../src/config/context.ts';
import { parseInsecureOptions } from '../../../src/config/insecure.ts';

// Docker and OCI images made by the tests themselves: layer tars (tar-stream's packer,
// so hostile names are possible), OCI image layouts (oci-layout, index.json,
// blobs/sha256/...) for one platform or several, and `docker save` archives
// (manifest.json, the config and layer tars).

export const BUSYBOX = '/bin/busybox';

export interface LayerEntry {
  name: string;
  type?: 'file' | 'directory' | 'symlink' | 'link' | 'fifo' | 'character-device';
  body?: Buffer | string;
  linkname?: string;
  mode?: number;
  uid?: number;
  gid?: number;
}

/** An uncompressed layer tar of `entries`, in order. */
export async function layerTar(entries: LayerEntry[]): Promise<Buffer> {
  const p = pack();
  const out = buffer(p);
  for (const e of entries) {
    const type = e.type ?? 'file';
    const body = type === 'file' ? Buffer.from(e.body ?? '') : undefined;
    const header = {
      name: e.name,
      type,
      mode: e.mode ?? (type === 'directory' ? 0o755 : 0o644),
      uid: e.uid ?? 0,
      gid: e.gid ?? 0,
      mtime: new Date(1_700_000_000_000),
      ...(e.linkname !== undefined ? { linkname: e.linkname } : {}),
      ...(body ? { size: body.length } : {}),
    };
    await new Promise<void>((resolve, reject) => {
      if (body) p.entry(header, body, (err) => (err ? reject(err) : resolve()));
      else p.entry(header, (err) => (err ? reject(err) : resolve()));
    });
  }
  p.finalize();
  return out;
}

/** A busybox root: /bin/busybox (the host's static one), /bin/sh and /bin/echo linking to it, /etc/passwd. */
export function busyboxEntries(extra: LayerEntry[] = []): LayerEntry[] {
  return [
    { name: 'bin/', type: 'directory' },
    { name: 'bin/busybox', body: fs.readFileSync(BUSYBOX), mode: 0o755 },
    { name: 'bin/sh', type: 'symlink', linkname: 'busybox' },
    { name: 'bin/echo', type: 'symlink', linkname: '/bin/busybox' },
    { name: 'etc/', type: 'directory' },
    { name: 'etc/passwd', body: 'root:x:0:0:root:/root:/bin/sh\nwww:x:33:33:www:/var/www:/bin/sh\n' },
    { name: 'etc/group', body: 'root:x:0:\nwww:x:33:\n' },
    { name: 'tmp/', type: 'directory', mode: 0o1777 },
    ...extra,
  ];
}

export type Compression = 'gzip' | 'zstd' | 'none';

export function compress(tar: Buffer, how: Compression): Buffer {
  if (how === 'gzip') return gzipSync(tar);
  if (how === 'zstd') {
    const r = spawnSync('zstd', ['-q', '-c', '-3'], { input: tar, maxBuffer: 1 << 30 });
    if (r.status !== 0) throw new Error(`zstd: ${r.stderr}`);
    return r.stdout;
  }
  return tar;
}

const LAYER_TYPE: Record<Compression, string> = {
  gzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  zstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  none: 'application/vnd.oci.image.layer.v1.tar',
};

export const sha256 = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

export interface ImageSpec {
  platform: Platform;
  /** Uncompressed layer tars, bottom first. */
  layers: Buffer[];
  compression?: Compression;
  /** Fields of the config's "config". */
  config?: Record<string, unknown>;
  /** Leave the variant out of the config (as many real images do). */
  configWithoutVariant?: boolean;
}

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: Platform;
  annotations?: Record<string, string>;
}

/** Writes a blob into a layout's blobs/sha256/. */
export function putBlob(dir: string, bytes: Buffer): string {
  const digest = sha256(bytes);
  const file = path.join(dir, 'blobs', 'sha256', digest.slice('sha256:'.length));
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, bytes);
  return digest;
}

export function imageConfig(spec: ImageSpec): Buffer {
  return Buffer.from(
    JSON.stringify({
      created: '2024-01-02T03:04:05Z',
      architecture: spec.platform.architecture,
      ...(spec.platform.variant && !spec.configWithoutVariant ? { variant: spec.platform.variant } : {}),
      os: spec.platform.os,
      config: spec.config ?? {},
      rootfs: { type: 'layers', diff_ids: spec.layers.map(sha256) },
    }),
  );
}

/** Writes one image's config, layers and manifest into the layout's blobs; returns the manifest's descriptor. */
export function putImage(dir: string, spec: ImageSpec): Descriptor {
  const how = spec.compression ?? 'gzip';
  const config = imageConfig(spec);
  const layers = spec.layers.map((tar) => {
    const blob = compress(tar, how);
    return { mediaType: LAYER_TYPE[how], digest: putBlob(dir, blob), size: blob.length };
  });
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: putBlob(dir, config), size: config.length },
      layers,
    }),
  );
  return { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: putBlob(dir, manifest), size: manifest.length, platform: spec.platform };
}

/**
 * An OCI layout at `dir` with `images` under the ref name `ref`: one image is listed in
 * index.json directly; several go into an index blob that index.json lists (what
 * `skopeo copy --all` and `docker buildx` write). Returns the digest index.json lists.
 */
export function writeOciLayout(dir: string, ref: string, images: ImageSpec[]): Descriptor {
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  const manifests = images.map((spec) => putImage(dir, spec));
  let top: Descriptor;
  if (manifests.length === 1) {
    top = manifests[0]!;
  } else {
    const index = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests }));
    top = { mediaType: 'application/vnd.oci.image.index.v1+json', digest: putBlob(dir, index), size: index.length };
  }
  const listed = { ...top, annotations: { 'org.opencontainers.image.ref.name': ref } };
  fs.writeFileSync(path.join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [listed] }));
  return top;
}

/** A `docker save` archive: manifest.json, <config digest>.json and <n>/layer.tar, for one image; `symlinkLayer`: a layer equal to the one before it is a symlink to it, as older Dockers write. */
export async function writeDockerArchive(file: string, repoTags: string[], spec: ImageSpec, opts: { symlinkLayer?: boolean } = {}): Promise<void> {
  const config = imageConfig(spec);
  const configName = `${sha256(config).slice('sha256:'.length)}.json`;
  const layerNames = spec.layers.map((_, i) => `layer${i}/layer.tar`);
  const entries: LayerEntry[] = [];
  spec.layers.forEach((tar, i) => {
    entries.push({ name: `layer${i}/`, type: 'directory' });
    if (opts.symlinkLayer && i > 0 && tar.equals(spec.layers[i - 1]!)) entries.push({ name: layerNames[i]!, type: 'symlink', linkname: `../layer${i - 1}/layer.tar` });
    else entries.push({ name: layerNames[i]!, body: tar });
  });
  entries.push({ name: configName, body: config });
  entries.push({ name: 'manifest.json', body: JSON.stringify([{ Config: configName, RepoTags: repoTags, Layers: layerNames }]) });
  fs.writeFileSync(file, await layerTar(entries));
}

/** A context for in-process fetches into `dir`, collecting warnings. */
export function testContext(dir: string, insecure = 'image'): RktContext & { warnings: string[] } {
  const warnings: string[] = [];
  return {
    dir: path.join(dir, 'data'),
    localConfig: path.join(dir, 'etc'),
    systemConfig: path.join(dir, 'lib'),
    insecure: parseInsecureOptions(insecure),
    trustKeysFromHttps: false,
    warn: (line) => warnings.push(line),
    warnings,
  };
}
