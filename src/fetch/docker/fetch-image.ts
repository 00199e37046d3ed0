import { join } from 'node:path';
import type { RktContext } from '../../config/context.ts';
import type { InsecureCheck } from '../../config/insecure.ts';
import type { Store } from '../../store/store.ts';
import type { ImageRecord, RemoteInfo } from '../../store/types.ts';
import { UserError, withContext } from '../../util/errors.ts';
import { log } from '../../util/log.ts';
import type { FetchOptions } from '../fetcher.ts';
import type { HttpGetOptions } from '../http-get.ts';
import type { Host } from '../match.ts';
import { convertLayers, type LayerInput } from './convert.ts';
import { manifestFromConfig, type ImageConfig, type Naming } from './image-config.ts';
import type { AppcPlatform } from './platform.ts';
import type { DockerSource } from './transport.ts';

// rkt fetch of a Docker or OCI image (docs/docker.md): the source is resolved to one
// image manifest for this host's platform, and unless the store already holds the
// conversion of that manifest digest from the same source, its layers are fetched,
// squashed into one ACI (convert.ts) and stored. The store record's remote info keeps
// the source (url) and the manifest digest (etag): that is the conversion cache.
//
// Docker images carry no appc signature, so fetching one needs --insecure-options=image,
// unless it is pinned by digest (docker://name@sha256:..., oci:DIR@sha256:...): then
// every byte is checked against a digest the user gave.

export interface DockerFetchEnv {
  store: Store;
  ctx: RktContext;
  opts: FetchOptions;
  host: Host;
  http: HttpGetOptions;
  /** Announces a skipped check once per command. */
  warn(check: InsecureCheck): void;
}

/** One image of a source, resolved for this host: enough to know whether it is stored, and to convert it. */
export interface ResolvedImage {
  /** The digest of the image manifest chosen (of the config, for a docker-archive): the conversion's cache key. */
  manifestDigest: string;
  configDigest: string;
  config: ImageConfig;
  platform: AppcPlatform;
  naming: Naming;
  /** The layers in order, ready to open (downloads start here for a registry). */
  layers(tmpDir: string): Promise<LayerInput[]>;
  /** Stops what layers() started (downloads) and waits for it: before the temporary directory goes. */
  stop?(): Promise<void>;
}

/** A source: how it is named in the store, whether it is pinned, and how to resolve it. */
export interface SourceReader {
  /** For messages: the argument as given. */
  what: string;
  /** remote.url of the stored conversion. */
  url: string;
  /** Pinned by a digest the user gave. */
  pinned: boolean;
  resolve(host: Host): Promise<ResolvedImage>;
  /** Says plain HTTP was used (after resolve), for the warning. */
  plainHttp?(): boolean;
}

export async function fetchDockerImage(source: DockerSource, env: DockerFetchEnv): Promise<ImageRecord> {
  const reader = await readerFor(source, env);
  const { store, opts, ctx } = env;
  const stored = await storedFrom(store, reader.url);
  const policy = opts.pullPolicy;
  // A registry image is asked for again only under --pull-policy=update, and not even
  // then when pinned by digest: a digest names one image for good. A local layout or
  // archive is always read (as a local ACI is always imported); its manifest digest
  // tells whether the stored conversion is still it.
  if (source.transport === 'docker') {
    if (stored && (policy !== 'update' || reader.pinned)) return stored;
    if (policy === 'never') throw new UserError(`fetch: ${reader.what} is not in the store, and --pull-policy=never forbids fetching it`);
  }
  const unsigned = () =>
    new UserError(
      `fetch: ${reader.what}: Docker and OCI images carry no appc signature; pass --insecure-options=image to fetch it unverified, or pin it by digest (${pinExample(source)})`,
    );
  const unverified = !reader.pinned && !ctx.insecure.has('image');
  // Without a stored conversion from this source there is nothing to find: refuse before any download.
  if (unverified && !stored) throw unsigned();
  const image = await reader.resolve(env.host).catch((err: unknown) => {
    throw withContext(`fetch: ${reader.what}`, err, 'docker: ');
  });
  if (reader.plainHttp?.() && ctx.insecure.has('http')) env.warn('http');
  const remote: RemoteInfo = { url: reader.url, etag: image.manifestDigest, downloadedAt: new Date().toISOString() };
  const cached = (await store.list()).find((r) => r.remote?.url === reader.url && r.remote.etag === image.manifestDigest);
  if (cached) {
    log().debug({ id: cached.id, digest: image.manifestDigest }, 'conversion cached');
    await store.updateRemote(cached.id, remote);
    return { ...cached, remote };
  }
  if (unverified) throw unsigned();
  if (!reader.pinned) env.warn('image');
  return convertAndStore(reader, image, remote, env).catch((err: unknown) => {
    throw withContext(`fetch: ${reader.what}`, err, 'docker: ');
  });
}

async function convertAndStore(reader: SourceReader, image: ResolvedImage, remote: RemoteInfo, env: DockerFetchEnv): Promise<ImageRecord> {
  const tmp = await env.store.tempDir('docker');
  try {
    const layers = await image.layers(tmp.path);
    const started = Date.now();
    const converted = await convertLayers({
      layers,
      spool: join(tmp.path, 'spool'),
      time: createdTime(image.config),
      manifest: (files) => manifestFromConfig(image.config, image.naming, image.platform, files),
    });
    try {
      const record = await env.store.writeAci(converted.tar, { remote });
      log().debug({ what: reader.what, id: record.id, entries: converted.entries, ms: Date.now() - started }, 'converted');
      return record;
    } finally {
      converted.close();
    }
  } finally {
    await image.stop?.();
    await tmp.discard();
  }
}

async function readerFor(source: DockerSource, env: DockerFetchEnv): Promise<SourceReader> {
  switch (source.transport) {
    case 'docker': {
      const { registryReader } = await import('./registry-source.ts');
      return registryReader(source.ref ?? '', env);
    }
    case 'oci': {
      const { ociLayoutReader } = await import('./oci-layout.ts');
      return ociLayoutReader(source.path!, source.ref);
    }
    case 'docker-archive': {
      const { dockerArchiveReader } = await import('./docker-archive.ts');
      return dockerArchiveReader(source.path!, source.ref);
    }
  }
}

/** The conversion last stored from `url`. */
async function storedFrom(store: Store, url: string): Promise<ImageRecord | undefined> {
  const from = (await store.list()).filter((r) => r.remote?.url === url);
  return from.sort((a, b) => Date.parse(b.remote!.downloadedAt) - Date.parse(a.remote!.downloadedAt))[0];
}

function pinExample(source: DockerSource): string {
  if (source.transport === 'docker') {
    const ref = source.ref ?? 'NAME';
    const slash = ref.lastIndexOf('/');
    return `docker://${ref.slice(0, slash + 1)}${ref.slice(slash + 1).replace(/[:@].*$/, '')}@sha256:...`;
  }
  if (source.transport === 'oci') return `oci:${source.path}@sha256:...`;
  return 'a docker-archive cannot be; load it into a registry or an OCI layout to pin it';
}

/** The config's creation time in seconds (every date the conversion needs), 0 when it has none. */
function createdTime(config: ImageConfig): number {
  const ms = config.created === undefined ? NaN : Date.parse(config.created);
  return Number.isFinite(ms) && ms > 0 ? Math.floor(ms / 1000) : 0;
}
