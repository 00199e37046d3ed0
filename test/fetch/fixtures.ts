import { mkdtemp, readdir, writeFile } from 'node:fs/promises';
import type http from 'node:http';
import { join } from 'node:path';
import { imageIdOfBuffer } from '../../src/appc/image-id.ts';
import type { RktContext } from '../../src/config/context.ts';
import type { InsecureCheck } from '../../src/config/insecure.ts';
import { fetchImage, type FetchOptions } from '../../src/fetch/fetcher.ts';
import { Store } from '../../src/store/store.ts';
import type { ImageRecord } from '../../src/store/types.ts';
import { Keystore } from '../../src/trust/keystore.ts';
import { serve, testPki, type TestServer } from '../helpers/https-server.ts';
import { gzipped, imageTar, type ImageSpec } from '../store/fixtures/images.ts';
import { Gpg, type GpgKey } from '../trust/helpers.ts';

// The fetch tests' world: real images (packed, gzipped), signed by real gpg keys, a
// keystore and store in a temp --dir / --local-config, and real servers that serve
// files the way image hosts do (ETag, Cache-Control, Range) or misbehave on purpose.

/** Every fetch test pretends to run on a Raspberry Pi 2, whatever the machine. */
export const PI2 = { os: 'linux', arch: 'armv7l' };

export interface Signer {
  gpg: Gpg;
  /** Trusted for example.com in each test's keystore. */
  trusted: GpgKey;
  /** Never trusted. */
  rogue: GpgKey;
}

export function makeSigner(dir: string): Signer {
  const gpg = new Gpg(join(dir, 'gnupg'));
  return { gpg, trusted: gpg.genKey('Publisher <release@example.com>'), rogue: gpg.genKey('Rogue <rogue@example.net>') };
}

export interface BuiltImage {
  /** The gzipped ACI. */
  aci: Buffer;
  /** Its detached armored signature by the trusted key. */
  asc: Buffer;
  id: string;
  /** Bytes of the uncompressed tar. */
  size: number;
}

/** An image for a Pi 2 (unless the spec says otherwise), gzipped and signed. */
export async function buildImage(signer: Signer, dir: string, spec: ImageSpec, key: GpgKey = signer.trusted): Promise<BuiltImage> {
  const tar = await imageTar({ ...spec, labels: { os: 'linux', arch: 'armv7l', ...spec.labels } });
  const aci = await gzipped(tar);
  const file = join(await mkdtemp(join(dir, 'img-')), 'image.aci');
  await writeFile(file, aci);
  return { aci, asc: signer.gpg.sign(key.uid, file, true), id: imageIdOfBuffer(tar), size: tar.length };
}

export interface TestEnv {
  ctx: RktContext;
  warnings: string[];
  fetch(ref: string, opts?: Partial<FetchOptions>): Promise<ImageRecord>;
  stored(): Promise<ImageRecord[]>;
  /** What fetch left in the store's tmp/. */
  leftovers(): Promise<string[]>;
}

/** A fresh store and keystore (trusting `signer.trusted` for example.com) in `dir`. */
export async function testEnv(signer: Signer, dir: string, insecure: InsecureCheck[] = []): Promise<TestEnv> {
  const root = await mkdtemp(join(dir, 'env-'));
  const warnings: string[] = [];
  const ctx: RktContext = {
    dir: join(root, 'data'),
    localConfig: join(root, 'etc'),
    systemConfig: join(root, 'lib'),
    insecure: new Set(insecure),
    trustKeysFromHttps: false,
    warn: (line) => warnings.push(line),
  };
  await new Keystore(ctx).add(signer.trusted.armored, { prefix: 'example.com' });
  return {
    ctx,
    warnings,
    fetch: (ref, opts = {}) =>
      fetchImage(ref, ctx, { pullPolicy: 'update', host: PI2, progress: false, retryDelayMs: 10, timeoutMs: 2000, ...opts }),
    stored: async () => (await Store.open(ctx.dir)).list(),
    leftovers: async () => readdir((await Store.open(ctx.dir)).paths.tmpDir),
  };
}

export interface Route {
  body: Buffer | string;
  etag?: string;
  cacheControl?: string;
  contentType?: string;
  /** Send this many bytes of the body, then drop the connection... */
  dropAfter?: number;
  /** ...on this many requests (default: every one). */
  drops?: number;
  /** Send no Content-Length (chunked), as a streaming or endless server does. */
  chunked?: boolean;
}

/**
 * A file server: routes by request path (with its query), answering If-None-Match
 * with 304 and Range (when If-Range, if any, names the current ETag) with 206.
 */
export async function fileServer(secure: boolean, routes: Record<string, Route>): Promise<TestServer & { routes: Record<string, Route> }> {
  const dropped = new Map<string, number>();
  const handler: http.RequestListener = (req, res) => {
    const route = routes[req.url ?? ''];
    if (!route) return void res.writeHead(404).end();
    const body = Buffer.from(route.body);
    const headers: http.OutgoingHttpHeaders = { 'content-type': route.contentType ?? 'application/octet-stream', 'accept-ranges': 'bytes' };
    if (route.etag) headers.etag = route.etag;
    if (route.cacheControl) headers['cache-control'] = route.cacheControl;
    if (route.etag && req.headers['if-none-match'] === route.etag) return void res.writeHead(304, headers).end();
    const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    const ifRange = req.headers['if-range'];
    const start = range && (ifRange === undefined || ifRange === route.etag) ? Number(range[1]) : 0;
    const part = body.subarray(start);
    if (start > 0) headers['content-range'] = `bytes ${start}-${body.length - 1}/${body.length}`;
    res.writeHead(start > 0 ? 206 : 200, route.chunked ? headers : { ...headers, 'content-length': part.length });
    const drops = dropped.get(req.url!) ?? 0;
    if (route.dropAfter !== undefined && drops < (route.drops ?? Infinity)) {
      dropped.set(req.url!, drops + 1);
      // Flushed before the socket goes, so the client sees a body cut short.
      res.write(part.subarray(0, route.dropAfter), () => res.socket?.destroy());
      return;
    }
    res.end(part);
  };
  return { ...(await serve(secure, handler)), routes };
}

/** A discovery page putting every example.com image at https://example.com/images/<name>-<version>-<os>-<arch>.<ext>. */
export function discoveryPage(scheme = 'https'): Route {
  return {
    contentType: 'text/html',
    body: `<meta name="ac-discovery" content="example.com ${scheme}://example.com/images/{name}-{version}-{os}-{arch}.{ext}">`,
  };
}

/** The server paths of an image discovered as `name` with these labels. */
export function imagePath(name: string, version: string, os = PI2.os, arch = PI2.arch): string {
  return `/images/${name}-${version}-${os}-${arch}.aci`;
}

export const ca = (): string => testPki().ca;
