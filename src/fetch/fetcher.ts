import { createReadStream } from 'node:fs';
import { copyFile, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { detectHostArch } from '../appc/arch.ts';
import { parseImageRef } from '../appc/discovery.ts';
import { peekManifest } from '../appc/peek-manifest.ts';
import type { Dependency, ImageManifest } from '../appc/types.ts';
import type { RktContext } from '../config/context.ts';
import { insecureWarning, type InsecureCheck } from '../config/insecure.ts';
import { Store } from '../store/store.ts';
import type { ImageRecord, RemoteInfo } from '../store/types.ts';
import { UserError, withContext } from '../util/errors.ts';
import { log } from '../util/log.ts';
import { checkDependency, dependencyKey, dependencyRequest, measureImage } from './dependencies.ts';
import type { DownloadOptions } from './download.ts';
import { hostDefaults, mismatch, platformProblem, type Host, type ImageRequest } from './match.ts';
import { classifySource, type ImageSource } from './source.ts';

// rkt fetch: an image from a file, a URL or an appc name (by discovery) into the store,
// with its dependencies. Every image is downloaded to a temporary directory in the
// store's tmp/, verified (signature, name, labels, arch, dependency ID and size) and
// only then written to the store, so a refused or broken download leaves nothing there,
// and one killed midway leaves a directory that gc removes (see store/temp.ts).
// Dependencies are stored before the image that needs them. The network, the ACI reader
// and openpgp are imported on first use: an image already stored needs none of them.

export const PULL_POLICIES = ['new', 'update', 'never'] as const;
/** As in rkt: new = the store first; update = ask the server (ETag, max-age); never = the store only. */
export type PullPolicy = (typeof PULL_POLICIES)[number];

export interface FetchOptions {
  pullPolicy: PullPolicy;
  /** A local detached signature for the image (not for its dependencies). */
  signature?: string;
  /** Extra CA certificates (PEM) for HTTPS servers with a private CA. */
  ca?: string | Buffer;
  /** Like curl --resolve: "host[:port]" -> "address:port". */
  resolve?: Record<string, string>;
  /** Where the progress line goes (drawn only on a terminal); false for none. Default stderr. */
  progress?: NodeJS.WriteStream | false;
  /** The platform to fetch for; default this host's. */
  host?: Host;
  /** Download attempts, first backoff and idle timeout (see DownloadOptions). */
  tries?: number;
  retryDelayMs?: number;
  timeoutMs?: number;
}

/**
 * Fetches `ref` (path, URL, appc name or image ID) and its dependencies; returns the
 * stored record. `store`: the caller's open store of `ctx.dir`, if it has one.
 */
export async function fetchImage(ref: string, ctx: RktContext, opts: FetchOptions, store?: Store): Promise<ImageRecord> {
  return new Fetcher(store ?? (await Store.open(ctx.dir)), ctx, opts).fetch(classifySource(ref), ref);
}

/** What is asked for, and how to name it in messages. */
interface Wanted {
  what: string;
  req: ImageRequest;
  /** --signature: a local signature file, for the top image only. */
  signature?: string;
  /** Set when the image is a dependency of `parent`. */
  dep?: { dep: Dependency; parent: string };
}

const ANY: ImageRequest = { labels: {}, defaults: {} };
const SIGNATURE_LIMIT = 1 << 20;

class Fetcher {
  readonly #store: Store;
  readonly #ctx: RktContext;
  readonly #opts: FetchOptions;
  readonly #host: Host;
  readonly #warned = new Set<InsecureCheck>();
  /** Dependencies already fetched or being fetched: a cycle or a diamond fetches each once. */
  readonly #seen = new Set<string>();

  constructor(store: Store, ctx: RktContext, opts: FetchOptions) {
    this.#store = store;
    this.#ctx = ctx;
    this.#opts = opts;
    this.#host = opts.host ?? detectHostArch();
  }

  async fetch(source: ImageSource, ref: string): Promise<ImageRecord> {
    const signature = this.#opts.signature;
    switch (source.kind) {
      case 'id':
        return this.#fromStore(await this.#storedById(source.id));
      case 'file':
        return this.#importCopy(source.path, { what: ref, req: ANY, signature: signature ?? `${source.path}.asc` });
      case 'url':
        return this.#fetchUrl(source.url, { what: ref, req: ANY, signature });
      case 'name': {
        const { name, labels } = parseImageRef(source.ref);
        return this.#fetchByName({ what: ref, req: { name, labels, defaults: hostDefaults(labels, this.#host) }, signature });
      }
      case 'docker': {
        // docker://, docker-archive:, oci: converted to an ACI (docs/docker.md).
        const { fetchDockerImage } = await import('./docker/fetch-image.ts');
        const env = { store: this.#store, ctx: this.#ctx, opts: this.#opts, host: this.#host, http: this.#http(), warn: (c: InsecureCheck) => this.#warn(c) };
        return this.#used(await fetchDockerImage(source, env));
      }
    }
  }

  async #fetchUrl(url: string, wanted: Wanted): Promise<ImageRecord> {
    this.#checkScheme(url);
    const stored = await this.#storedFrom(url);
    const policy = this.#opts.pullPolicy;
    if (stored && (policy !== 'update' || isFresh(stored.remote))) return this.#fromStore(stored);
    if (policy === 'never') {
      throw new UserError(`fetch: ${url} is not in the store, and --pull-policy=never forbids downloading it`);
    }
    return this.#download(url, `${url}.asc`, wanted, stored);
  }

  async #fetchByName(wanted: Wanted): Promise<ImageRecord> {
    const { req, dep } = wanted;
    const name = req.name!;
    const labels = { ...req.defaults, ...req.labels };
    const platform = platformProblem(wanted.what, labels['os'], labels['arch'], this.#host);
    if (platform) throw new UserError(`fetch: ${platform}`);
    // An exact image ID that is not stored says the stored images of that name are not it.
    const exact = dep?.dep.imageID !== undefined;
    if (this.#opts.pullPolicy !== 'update' && !exact) {
      const stored = await this.#storedMatching(req);
      if (stored) return this.#fromStore(stored, dep);
    }
    if (this.#opts.pullPolicy === 'never') {
      throw new UserError(`fetch: ${wanted.what} is not in the store, and --pull-policy=never forbids discovering it`);
    }
    const { discover } = await import('./discover.ts');
    const endpoints = await discover({ name, labels }, { ...this.#http(), insecure: this.#ctx.insecure.has('http') });
    const { aci, signature } = endpoints.aci[0]!;
    log().debug({ name, aci, signature }, 'discovered');
    this.#checkScheme(aci);
    const stored = exact ? undefined : await this.#storedFrom(aci);
    if (stored && isFresh(stored.remote)) return this.#fromStore(stored, dep);
    return this.#download(aci, signature, wanted, stored);
  }

  /** Downloads, then imports; a stored copy whose ETag the server confirms (304) is kept. */
  async #download(url: string, signatureUrl: string, wanted: Wanted, stored?: ImageRecord): Promise<ImageRecord> {
    const { download } = await import('./download.ts');
    const tmp = await this.#store.tempDir('fetch');
    try {
      const file = join(tmp.path, 'image');
      const size = wanted.dep?.dep.size;
      const got = await download(url, file, {
        ...this.#http(),
        etag: stored?.remote?.etag,
        // A dependency's size is the tar's; compression only makes the download smaller, bar a few header bytes.
        maxBytes: size === undefined ? undefined : size + Math.ceil(size / 100) + 65536,
        progress: this.#opts.progress === false ? undefined : { label: `Downloading ${wanted.what}`, out: this.#opts.progress },
      });
      if (got.notModified) {
        const remote = { ...stored!.remote!, maxAge: got.maxAge ?? stored!.remote!.maxAge, downloadedAt: new Date().toISOString() };
        await this.#store.updateRemote(stored!.id, remote);
        return this.#fromStore({ ...stored!, remote }, wanted.dep);
      }
      const remote: RemoteInfo = { url, etag: got.etag, maxAge: got.maxAge, downloadedAt: new Date().toISOString() };
      const signature = wanted.signature ?? (this.#ctx.insecure.has('image') ? undefined : await this.#downloadSignature(signatureUrl, join(tmp.path, 'signature'), wanted.what));
      return await this.#import(file, { ...wanted, signature }, remote);
    } finally {
      await tmp.discard();
    }
  }

  /**
   * A local image is copied into the store's private temp area first and checked and
   * stored from there: the file is read several times (manifest, signature, store),
   * and a file someone can still write to must not change between the signature check
   * and the store.
   */
  async #importCopy(path: string, wanted: Wanted): Promise<ImageRecord> {
    const tmp = await this.#store.tempDir('fetch');
    try {
      const copy = join(tmp.path, 'image');
      await copyFile(path, copy).catch((err: unknown) => {
        throw withContext(`fetch: ${wanted.what}`, err, 'fetch: ');
      });
      return await this.#import(copy, wanted);
    } finally {
      await tmp.discard();
    }
  }

  /** Checks an image file and, with its dependencies stored first, stores it. */
  async #import(file: string, wanted: Wanted, remote?: RemoteInfo): Promise<ImageRecord> {
    const manifest = await peekManifest(file).catch((err: unknown) => {
      throw withContext(`fetch: ${wanted.what}`, err, 'fetch: ');
    });
    const signature = await this.#verify(file, manifest.name, wanted);
    const problem = mismatch(manifest, wanted.req, this.#host);
    if (problem) throw new UserError(`fetch: ${problem}`);
    const { dep } = wanted;
    if (dep && (dep.dep.imageID !== undefined || dep.dep.size !== undefined)) {
      checkDependency(dep.dep, await measureImage(file, dep.dep.size));
    }
    await this.#dependencies(manifest);
    return this.#used(await this.#store.writeAci(createReadStream(file), { ...(remote ? { remote } : {}), ...(signature ? { signature } : {}) }));
  }

  /**
   * Fetching an image is asking for it: it and its dependencies count as used, so that
   * `rkt image gc` (which removes images unused for its grace period) keeps what a
   * provisioning script keeps fetching, even before a pod runs it.
   */
  async #used(record: ImageRecord): Promise<ImageRecord> {
    await this.#store.markUsed(record.id);
    return record;
  }

  /** The signature that verified the image, kept with it so export-bundle can carry it; none when unverified. */
  async #verify(file: string, name: string, wanted: Wanted): Promise<Buffer | undefined> {
    if (this.#ctx.insecure.has('image')) {
      this.#warn('image');
      return undefined;
    }
    let signature: Buffer;
    try {
      signature = await readFile(wanted.signature!);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      throw new UserError(
        `fetch: no signature ${wanted.signature} for ${wanted.what}; pass --signature FILE, or --insecure-options=image to fetch it unverified`,
      );
    }
    const [{ Keystore }, { verifyDetached }] = await Promise.all([import('../trust/keystore.ts'), import('../trust/signature.ts')]);
    const signer = await verifyDetached(file, signature, await new Keystore(this.#ctx).keysFor(name), name);
    log().info({ name, ...signer }, 'signature verified');
    return signature;
  }

  async #downloadSignature(url: string, file: string, what: string): Promise<string> {
    this.#checkScheme(url);
    const { download, HttpStatusError } = await import('./download.ts');
    try {
      await download(url, file, { ...this.#http(), maxBytes: SIGNATURE_LIMIT });
    } catch (err) {
      if (!(err instanceof HttpStatusError && err.status === 404)) throw err;
      throw new UserError(`fetch: no signature for ${what} at ${url}; ask its publisher for one, or pass --insecure-options=image to fetch it unverified`);
    }
    return file;
  }

  async #dependencies(manifest: ImageManifest): Promise<void> {
    for (const dep of manifest.dependencies) {
      const { ref, req } = dependencyRequest(dep, this.#host);
      const key = dependencyKey(dep.imageName, { ...req.defaults, ...req.labels });
      if (this.#seen.has(key)) continue;
      this.#seen.add(key);
      try {
        const exact = dep.imageID === undefined ? undefined : await this.#store.get(dep.imageID);
        if (exact) await this.#fromStore(exact, { dep, parent: manifest.name });
        else await this.#fetchByName({ what: ref, req, dep: { dep, parent: manifest.name } });
      } catch (err) {
        throw withContext(`fetch: dependency ${ref} of ${manifest.name}`, err, 'fetch: ');
      }
    }
  }

  /** A stored image, after making sure its dependencies are there too. */
  async #fromStore(record: ImageRecord, dep?: Wanted['dep']): Promise<ImageRecord> {
    if (dep) checkDependency(dep.dep, record);
    await this.#dependencies(await this.#store.manifest(record.id));
    return this.#used(record);
  }

  async #storedById(prefix: string): Promise<ImageRecord> {
    const record = await this.#store.get(await this.#store.resolveId(prefix));
    if (!record) throw new UserError(`fetch: image ${prefix} is not in the store`);
    return record;
  }

  /** The image most recently downloaded from `url`. */
  async #storedFrom(url: string): Promise<ImageRecord | undefined> {
    const from = (await this.#store.list()).filter((r) => r.remote?.url === url);
    return from.sort((a, b) => Date.parse(b.remote!.downloadedAt) - Date.parse(a.remote!.downloadedAt))[0];
  }

  /** The newest stored image that answers the request on this host. */
  async #storedMatching(req: ImageRequest): Promise<ImageRecord | undefined> {
    const matching = (await this.#store.list()).filter((r) => mismatch(r, req, this.#host) === undefined);
    return matching.sort((a, b) => Date.parse(b.importedAt) - Date.parse(a.importedAt))[0];
  }

  #checkScheme(url: string): void {
    if (!url.startsWith('http:')) return;
    if (!this.#ctx.insecure.has('http')) {
      throw new UserError(`fetch: ${url} is plain HTTP; use https, or pass --insecure-options=http to allow it`);
    }
    this.#warn('http');
  }

  #http(): DownloadOptions {
    const insecureTls = this.#ctx.insecure.has('tls');
    if (insecureTls) this.#warn('tls');
    const { ca, resolve, tries, retryDelayMs, timeoutMs } = this.#opts;
    return { allowHttp: this.#ctx.insecure.has('http'), insecureTls, ca, resolve, tries, retryDelayMs, timeoutMs };
  }

  #warn(check: InsecureCheck): void {
    if (this.#warned.has(check)) return;
    this.#warned.add(check);
    this.#ctx.warn(insecureWarning(check));
  }
}

function isFresh(remote: RemoteInfo | undefined): boolean {
  if (!remote?.maxAge) return false;
  return Date.now() < Date.parse(remote.downloadedAt) + remote.maxAge * 1000;
}

