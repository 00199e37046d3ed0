import { createWriteStream, promises as fsp } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { buffer } from 'node:stream/consumers';
import { isImageId } from '../appc/image-id.ts';
import { normalizeEntryPath, unsafePathReason } from '../appc/tar-path.ts';
import { tarStream, type TarMember } from '../appc/tar-writer.ts';
import type { RktContext } from '../config/context.ts';
import { walkTar } from '../appc/tar-walk.ts';
import { measureImage } from '../fetch/dependencies.ts';
import { fetchImage } from '../fetch/fetcher.ts';
import { resolveLayers } from '../store/dependencies.ts';
import { exists } from '../util/fs.ts';
import { resolveImage } from '../store/lookup.ts';
import type { Store } from '../store/store.ts';
import { Keystore } from '../trust/keystore.ts';
import { formatFingerprint } from '../trust/pgp-key.ts';
import { describeScope } from '../trust/scope.ts';
import { verifyDetached } from '../trust/signature.ts';
import { trustKeys, type TrustIo } from '../trust/trust-keys.ts';
import { writeFileAtomic } from '../util/atomic-file.ts';
import { describeError, UserError, withContext } from '../util/errors.ts';
import { exportImage } from './export.ts';
import { openStore } from './open-store.ts';

// Offline side-loading: a bundle is a plain tar holding `bundle.json` (first), then
// `images/<id>.aci` and `images/<id>.aci.asc` per image, dependencies before the
// images that need them, then `keys/<fingerprint>.asc` (with --with-keys). Each ACI
// is the stored tar gzip-compressed as `rkt image export` writes it, and its
// signature is the one the image was fetched with (the store keeps it, see
// store/layout.ts). The signature covers compressed bytes, so export checks that the
// recompressed file still verifies: it does for images made by actool (deterministic
// parallel gzip), not for images another tool compressed, which must travel as the
// publisher's .aci and .asc instead. Import verifies every image exactly as
// `rkt fetch FILE.aci` does, by calling the fetcher on the extracted file.

export const BUNDLE_INDEX = 'bundle.json';
const BUNDLE_VERSION = 1;
/** bundle.json, a signature or a key larger than this is not one. */
const SMALL_LIMIT = 1 << 20;

export interface BundleImage {
  id: string;
  name: string;
  labels: Record<string, string>;
  aci: string;
  signature: string;
  /** Primary fingerprint of the key that verified the signature when the bundle was made. */
  signedBy: string;
}

export interface BundleIndex {
  bundleVersion: number;
  /** Dependencies before the images that need them. */
  images: BundleImage[];
  keys: { fingerprint: string; file: string }[];
}

/** One image as `rkt image import-bundle --format json` prints it. */
export interface ImportedImage {
  id: string;
  name: string;
  labels: Record<string, string>;
  status: 'imported' | 'already-stored';
}

export async function exportBundle(
  ctx: RktContext,
  refs: string[],
  file: string,
  opts: { withKeys?: boolean; overwrite?: boolean } = {},
): Promise<BundleIndex> {
  const store = await openStore(ctx);
  if (!opts.overwrite && (await exists(file))) throw new UserError(`export-bundle: "${file}" exists (use --overwrite to replace it)`);
  const ids = await withDependencies(store, refs);
  const keystore = new Keystore(ctx);
  const tmp = await store.tempDir('bundle');
  try {
    const index: BundleIndex = { bundleVersion: BUNDLE_VERSION, images: [], keys: [] };
    const members: TarMember[] = [];
    const keys = new Map<string, string>();
    for (const id of ids) {
      const record = (await store.get(id))!;
      const signature = await store.signature(id);
      if (!signature) {
        throw new UserError(
          `export-bundle: ${record.name} (${id}) has no stored signature: it was fetched unverified or by an older rkt; fetch it again from its signed .aci`,
        );
      }
      const aci = join(tmp.path, `${id}.aci`);
      await exportImage(ctx, id, aci);
      const trustedKeys = await keystore.keysFor(record.name);
      const signer = await verifyDetached(aci, signature, trustedKeys, record.name).catch((err: unknown) => {
        throw withContext(`export-bundle: ${record.name} (${id})`, err);
      });
      const entry: BundleImage = {
        id,
        name: record.name,
        labels: Object.fromEntries(record.labels.map((l) => [l.name, l.value])),
        aci: `images/${id}.aci`,
        signature: `images/${id}.aci.asc`,
        signedBy: signer.fingerprint,
      };
      index.images.push(entry);
      members.push(member(entry.aci, (await fsp.stat(aci)).size, { abs: aci }), member(entry.signature, signature.length, { content: signature }));
      if (opts.withKeys && !keys.has(signer.fingerprint)) {
        keys.set(signer.fingerprint, trustedKeys.find((k) => k.fingerprint === signer.fingerprint)!.key.armor());
      }
    }
    for (const [fingerprint, armored] of [...keys].sort(([a], [b]) => a.localeCompare(b))) {
      const keyFile = `keys/${fingerprint}.asc`;
      index.keys.push({ fingerprint, file: keyFile });
      members.push(member(keyFile, Buffer.byteLength(armored), { content: Buffer.from(armored) }));
    }
    const indexBytes = Buffer.from(`${JSON.stringify(index, null, 2)}\n`);
    await writeFileAtomic(file, tarStream(async () => [member(BUNDLE_INDEX, indexBytes.length, { content: indexBytes }), ...members]));
    return index;
  } finally {
    await tmp.discard();
  }
}

/** The images `refs` name and everything they depend on, each once, dependencies first. */
async function withDependencies(store: Store, refs: string[]): Promise<string[]> {
  const ids: string[] = [];
  for (const ref of refs) {
    const { id } = await resolveImage(store, ref);
    for (const layer of await resolveLayers(store, id)) if (!ids.includes(layer.id)) ids.push(layer.id);
  }
  return ids;
}

/** A deterministic member: no owner, no time, so the same images make the same bundle. */
function member(path: string, size: number, body: { abs?: string; content?: Buffer }): TarMember {
  return { entry: { path, type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 0, size }, ...body };
}

export async function importBundle(
  ctx: RktContext,
  file: string,
  opts: { trustKeys?: boolean; skipReview?: boolean; io?: TrustIo } = {},
): Promise<ImportedImage[]> {
  const store = await openStore(ctx);
  const tmp = await store.tempDir('bundle');
  try {
    const index = await extractBundle(file, tmp.path);
    // Checked before anything is stored: an altered image fails here, not after its dependencies went in.
    for (const image of index.images) {
      const { id } = await measureImage(join(tmp.path, image.aci)).catch((err: unknown) => {
        throw new UserError(`import-bundle: ${image.aci} in ${file} is not an image (${describeError(err)}): the bundle was altered or damaged; nothing was imported`);
      });
      if (id !== image.id) {
        throw new UserError(`import-bundle: ${image.aci} in ${file} is not the image its name says (its content hashes to ${id}): the bundle was altered or damaged; nothing was imported`);
      }
    }
    const pending: BundleImage[] = [];
    for (const image of index.images) if (!(await store.get(image.id))) pending.push(image);
    if (opts.trustKeys) await trustBundleKeys(ctx, index, pending, tmp.path, opts);
    else await requireTrust(ctx, index, pending, file);
    const out: ImportedImage[] = [];
    for (const image of index.images) {
      const { id, name, labels } = image;
      if (!pending.includes(image)) {
        out.push({ id, name, labels, status: 'already-stored' });
        continue;
      }
      // The fetcher's own checks (signature by a trusted key, name, labels, arch, dependencies
      // already imported): the extracted pair is what `rkt fetch FILE.aci` would see.
      const record = await fetchImage(join(tmp.path, image.aci), ctx, {
        pullPolicy: 'never',
        signature: join(tmp.path, image.signature),
        progress: false,
      });
      out.push({ id: record.id, name, labels, status: 'imported' });
    }
    return out;
  } finally {
    await tmp.discard();
  }
}

/**
 * Streams the bundle into `dir`: bundle.json must come first, and every other member
 * must be a regular file the index names, once, under a safe path.
 */
async function extractBundle(file: string, dir: string): Promise<BundleIndex> {
  const label = `import-bundle: ${file}`;
  let index: BundleIndex | undefined;
  const expected = new Map<string, number>();
  const seen = new Set<string>();
  const source = await fsp.open(file).then(
    (h) => h.createReadStream(),
    (err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') throw new UserError(`import-bundle: no bundle "${file}"`);
      throw err;
    },
  );
  await walkTar(source, label, async (header, body) => {
    const unsafe = unsafePathReason(header.name);
    if (unsafe) throw new UserError(`${label}: member "${header.name}" ${unsafe}`);
    const path = normalizeEntryPath(header.name);
    // A bundle repacked with tar(1) carries its two directories as members: they add nothing.
    if (header.type === 'directory' && index && (path === 'images' || path === 'keys')) return;
    if (header.type !== 'file') throw new UserError(`${label}: member "${path}" is a ${header.type}, not a file`);
    if (!index) {
      if (path !== BUNDLE_INDEX) throw new UserError(`${label}: not a bundle: it does not start with ${BUNDLE_INDEX}`);
      index = parseIndex(await bounded(body(), `${label}: ${BUNDLE_INDEX}`), label);
      for (const image of index.images) expected.set(image.aci, Infinity).set(image.signature, SMALL_LIMIT);
      for (const key of index.keys) expected.set(key.file, SMALL_LIMIT);
      await fsp.mkdir(join(dir, 'images'));
      await fsp.mkdir(join(dir, 'keys'));
      return;
    }
    const limit = expected.get(path);
    if (limit === undefined || seen.has(path)) throw new UserError(`${label}: member "${path}" is not in ${BUNDLE_INDEX} (or comes twice)`);
    seen.add(path);
    if ((header.size ?? 0) > limit) throw new UserError(`${label}: member "${path}" is too large for a signature or key`);
    await pipeline(body(), createWriteStream(join(dir, path), { flags: 'wx' }));
  });
  if (!index) throw new UserError(`${label}: not a bundle: it is empty`);
  const missing = [...expected.keys()].filter((p) => !seen.has(p));
  if (missing.length > 0) throw new UserError(`${label}: ${missing[0]} is in ${BUNDLE_INDEX} but not in the bundle`);
  return index;
}

async function bounded(body: Readable, what: string): Promise<Buffer> {
  const bytes = await buffer(body);
  if (bytes.length > SMALL_LIMIT) throw new UserError(`${what} is larger than ${SMALL_LIMIT} bytes`);
  return bytes;
}

const FINGERPRINT = /^([0-9a-f]{40}|[0-9a-f]{64})$/;

/** The index, checked so that every file name it gives is one of the fixed, safe forms. */
function parseIndex(bytes: Buffer, label: string): BundleIndex {
  const bad = (why: string): never => {
    throw new UserError(`${label}: ${BUNDLE_INDEX}: ${why}`);
  };
  let raw: unknown;
  try {
    raw = JSON.parse(bytes.toString('utf8'));
  } catch {
    bad('not JSON');
  }
  const index = raw as Partial<BundleIndex>;
  if (index.bundleVersion !== BUNDLE_VERSION) bad(`bundleVersion is not ${BUNDLE_VERSION}`);
  if (!Array.isArray(index.images) || !Array.isArray(index.keys)) bad('images and keys must be lists');
  const ids = new Set<string>();
  for (const image of index.images!) {
    if (typeof image?.id !== 'string' || !isImageId(image.id) || ids.has(image.id)) bad('an image has a malformed or repeated id');
    if (typeof image.name !== 'string' || typeof image.labels !== 'object' || image.labels === null) bad(`image ${image.id} has no name or labels`);
    if (image.aci !== `images/${image.id}.aci` || image.signature !== `images/${image.id}.aci.asc`) bad(`image ${image.id} names unexpected files`);
    if (typeof image.signedBy !== 'string' || !FINGERPRINT.test(image.signedBy)) bad(`image ${image.id} has a malformed signedBy`);
    ids.add(image.id);
  }
  for (const key of index.keys!) {
    if (typeof key?.fingerprint !== 'string' || !FINGERPRINT.test(key.fingerprint) || key.file !== `keys/${key.fingerprint}.asc`) bad('a key entry is malformed');
  }
  return index as BundleIndex;
}

/**
 * --trust-keys: each bundle key is reviewed and trusted, as `rkt trust` would, for the
 * names of the images it signs, never wider (not --root, not a parent prefix): a
 * bundle says which key signed which image, and nothing more should follow from it.
 */
async function trustBundleKeys(
  ctx: RktContext,
  index: BundleIndex,
  pending: BundleImage[],
  dir: string,
  opts: { skipReview?: boolean; io?: TrustIo },
): Promise<void> {
  const keystore = new Keystore(ctx);
  const done = new Set<string>();
  for (const image of pending) {
    const scope = { prefix: image.name };
    const pair = `${image.signedBy} ${image.name}`;
    if (done.has(pair) || (await keystore.trusted(image.signedBy, scope))) continue;
    done.add(pair);
    const key = index.keys.find((k) => k.fingerprint === image.signedBy);
    if (!key) continue; // the fetcher's check below names the missing key
    const outcomes = await trustKeys(ctx, { scope, keys: [join(dir, key.file)], skipReview: opts.skipReview ?? false }, {}, opts.io);
    for (const o of outcomes) {
      if (o.status === 'declined') throw new UserError(`import-bundle: key ${o.fingerprint} not trusted: answered no; nothing was imported`);
      if (o.fingerprint !== image.signedBy) {
        throw new UserError(`import-bundle: ${key.file} holds key ${o.fingerprint}, not ${image.signedBy}: the bundle was altered`);
      }
      ctx.warn(`Added key ${o.fingerprint} for ${describeScope(scope)} at ${o.key!.path}`);
    }
  }
}

/** Without --trust-keys, an untrusted signer stops the import before anything is stored, naming what to do. */
async function requireTrust(ctx: RktContext, index: BundleIndex, pending: BundleImage[], file: string): Promise<void> {
  const keystore = new Keystore(ctx);
  for (const image of pending) {
    if (await keystore.trusted(image.signedBy, { prefix: image.name })) continue;
    const fp = formatFingerprint(image.signedBy);
    const carried = index.keys.some((k) => k.fingerprint === image.signedBy);
    throw new UserError(
      carried
        ? `import-bundle: ${image.name} is signed by key ${fp}, which is not trusted for it; check that fingerprint and pass --trust-keys to review and trust the key ${file} carries`
        : `import-bundle: ${image.name} is signed by key ${fp}, which is not trusted for it, and ${file} carries no keys (export it with --with-keys, or rkt trust --prefix=${image.name} KEYFILE)`,
    );
  }
}

