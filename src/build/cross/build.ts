import { promises as fsp } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { imageIdHasher } from '../../appc/image-id.ts';
import { DeflatePool } from '../../appc/deflate-pool.ts';
import { parallelGzip } from '../../appc/pgzip.ts';
import { tarStream } from '../../appc/tar-writer.ts';
import { debianArchFor } from '../../debian/arch-map.ts';
import type { RepoSource } from '../../debian/types.ts';
import type { HttpGetOptions } from '../../fetch/http-get.ts';
import { temporaryNameFor, writeFileAtomic } from '../../util/atomic-file.ts';
import { ExitCode, UserError, withContext } from '../../util/errors.ts';
import { composeImage, type ComposedImage, type SpecFile } from './compose.ts';
import { baseUrl, discoveryPage, imageFile, INDEX_FILE, PUBKEYS_FILE } from './layout.ts';
import { crossManifest } from './manifest.ts';
import { packagesFor, type PackageOptions } from './packages.ts';
import { publish } from './publish.ts';
import { loadSigner, type Signer } from './sign.ts';
import { fillPlaceholders, type CrossSpec } from './spec.ts';

export interface CrossOptions {
  /** The output directory, served as the web root of --base-url. */
  outDir: string;
  /** Build only these of the spec's arches. */
  arches?: string[];
  /** A secret key file that signs every image. */
  signKey?: string;
  passphrase?: string;
  baseUrl?: string;
  /** Repositories that replace the spec's (--repository). */
  repositories?: RepoSource[];
  /** Keeps downloaded indexes and packages between builds. */
  cacheDir?: string;
  /** Replace files already in DIR that differ from the new ones. */
  overwrite?: boolean;
  sourceDateEpoch?: number;
  http?: HttpGetOptions;
  /** Use repositories without a keyring, unchecked (--insecure-options=image); checksums still count. */
  insecure?: boolean;
  /** One line for the user (a package whose maintainer scripts were not run). */
  warn(line: string): void;
}

export interface CrossResult {
  arch: string;
  imageId: string;
  /** The image's path: DIR/NAME-VERSION-linux-ARCH.aci. */
  aci: string;
  signature?: string;
}

/**
 * Builds the spec's image for every arch, at once, into a staging directory beside
 * DIR, and moves the result into DIR only when every arch has succeeded: a failure
 * leaves DIR as it was (not even created).
 */
export async function crossBuild(spec: CrossSpec, opts: CrossOptions): Promise<CrossResult[]> {
  const arches = chosenArches(spec, opts.arches);
  const outDir = resolve(opts.outDir);
  const base = baseUrl(spec.name, opts.baseUrl);
  const signer = opts.signKey ? await loadSigner(opts.signKey, opts.passphrase, opts.sourceDateEpoch) : undefined;
  const stage = temporaryNameFor(outDir);
  await fsp.mkdir(dirname(outDir), { recursive: true, mode: 0o755 }).catch(() => undefined);
  await fsp.mkdir(stage, { mode: 0o700 }).catch((err: unknown) => {
    throw withContext(`cross: cannot stage the output beside ${outDir}`, err, 'cross: ');
  });
  // The arches compress at the same time, on one pool of deflate threads sized to the
  // cores: a thread costs ~35 ms of CPU to start on x86 (far more on a Pi), and a pool
  // per arch started one or more per arch. Threads start only as blocks need them.
  const gzipPool = new DeflatePool(availableParallelism(), GZIP_LEVEL);
  try {
    const out = join(stage, 'out');
    await fsp.mkdir(out, { mode: 0o755 });
    const work = { stage, out, cacheDir: opts.cacheDir ?? join(stage, 'cache'), now: Math.floor(Date.now() / 1000), gzipPool, folderIndexes: new Map() };
    const settled = await Promise.allSettled(arches.map((arch) => buildArch(spec, arch, signer, opts, work)));
    const failed = settled.find((s) => s.status === 'rejected');
    if (failed) throw failed.reason;
    await writeText(join(out, INDEX_FILE), discoveryPage(spec.name, base, signer !== undefined));
    if (signer) await writeText(join(out, PUBKEYS_FILE), signer.publicKey);
    await publish(out, outDir, opts.overwrite ?? false);
    return settled.map((s) => inDir((s as PromiseFulfilledResult<CrossResult>).value, out, opts.outDir));
  } finally {
    gzipPool.close();
    await fsp.rm(stage, { recursive: true, force: true });
  }
}

/** gzip's default, as every other ACI writer here. */
const GZIP_LEVEL = 6;

function chosenArches(spec: CrossSpec, asked: string[] | undefined): string[] {
  for (const arch of asked ?? []) {
    if (!spec.arches.includes(arch)) {
      throw new UserError(`cross: --arch ${arch} is not among the spec's arches (${spec.arches.join(', ')})`, ExitCode.usage);
    }
  }
  return asked ?? spec.arches;
}

interface Work {
  stage: string;
  out: string;
  cacheDir: string;
  now: number;
  gzipPool: DeflatePool;
  folderIndexes: PackageOptions['folderIndexes'];
}

async function buildArch(spec: CrossSpec, arch: string, signer: Signer | undefined, opts: CrossOptions, work: Work): Promise<CrossResult> {
  try {
    const debarch = debianArchFor(arch, { raspbian: spec.raspbian });
    const { repositories, http, insecure } = opts;
    const { cacheDir, folderIndexes } = work;
    const debs = await packagesFor(spec, debarch, { repositories, cacheDir, http, insecure, folderIndexes });
    const composed = await composeImage({
      debs: debs.map((d) => ({ name: d.pkg.name, path: d.path })),
      files: filesFor(spec, { arch, debarch }),
      manifest: crossManifest(spec, arch, opts.sourceDateEpoch),
      sourceDateEpoch: opts.sourceDateEpoch,
      now: work.now,
      spool: join(work.stage, `spool-${arch}`),
      warn: (line) => opts.warn(`${arch}: ${line}`),
    });
    const aci = join(work.out, imageFile(spec.name, { version: spec.version, os: 'linux', arch }));
    const imageId = await writeImage(aci, composed, work.gzipPool);
    if (!signer) return { arch, imageId, aci };
    await writeText(`${aci}.asc`, await signer.sign(aci));
    return { arch, imageId, aci, signature: `${aci}.asc` };
  } catch (err) {
    throw withContext(`cross: ${arch}`, err, 'cross: ');
  }
}

/** Writes the gzipped tar and returns the image ID, hashed on the way. */
async function writeImage(aci: string, composed: ComposedImage, gzipPool: DeflatePool): Promise<string> {
  await fsp.mkdir(dirname(aci), { recursive: true, mode: 0o755 });
  const hasher = imageIdHasher();
  try {
    await writeFileAtomic(aci, tarStream(async () => composed.members), [hasher.stream, parallelGzip({ pool: gzipPool })]);
  } finally {
    composed.close();
  }
  return hasher.imageId();
}

// Synced like the images: after a power cut DIR never holds an empty signature or page.
function writeText(path: string, text: string): Promise<void> {
  return writeFileAtomic(path, Readable.from([Buffer.from(text)]));
}

/** The spec's files that `arch` gets, with their placeholders filled. */
function filesFor(spec: CrossSpec, vars: { arch: string; debarch: string }): SpecFile[] {
  return spec.files
    .map((file, index) => {
      const from = fillPlaceholders(file.from, vars);
      return { index, spec: file, from, abs: resolve(spec.baseDir, from) };
    })
    .filter((f) => f.spec.arches === undefined || f.spec.arches.includes(vars.arch));
}

/** The result with its paths moved from the staging directory to DIR. */
function inDir(r: CrossResult, out: string, outDir: string): CrossResult {
  const moved = (p: string) => join(outDir, p.slice(out.length + 1));
  return { ...r, aci: moved(r.aci), ...(r.signature && { signature: moved(r.signature) }) };
}
