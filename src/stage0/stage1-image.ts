import { createReadStream, realpathSync, type BigIntStats } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { getAnnotation } from '../appc/annotations.ts';
import { detectHostArch } from '../appc/arch.ts';
import { canRunArch, runnableArchs } from '../appc/compatible-arch.ts';
import { parseImageRef } from '../appc/discovery.ts';
import { getLabel } from '../appc/labels.ts';
import type { ImageManifest } from '../appc/types.ts';
import type { RktContext } from '../config/context.ts';
import { fetchImage, type FetchOptions } from '../fetch/fetcher.ts';
import type { Host } from '../fetch/match.ts';
import type { Stage1Runtime } from '../pod/runtime.ts';
import type { Store } from '../store/store.ts';
import { binfmtHandlerFor } from '../sys/kernel-features.ts';
import { readCache, writeCache } from '../util/data-cache.ts';
import { ExitCode, UserError, withContext } from '../util/errors.ts';

// Which stage1 image a pod runs (docs/stage1-interface.md, "The stage1 image"):
//
//   --stage1-path FILE      an ACI file, stored as it is
//   --stage1-hash ID        an image already in the store
//   --stage1-name NAME      fetched (from the store, or by discovery) and verified as any image
//   (none)                  stage1-<arch>.aci beside the running rkt (dist/), in the
//                           repository's dist/ when running from the sources, then in
//                           <system config>/stage1-images/
//
// A file named on the command line or found where rkt's own build puts it is stored
// without a signature check: whoever can run rkt as root and name that file, or write
// to rkt's own directory, could replace rkt itself; CoreOS rkt trusts its configured
// stage1 the same way. A stage1 named for fetching is verified like every image.

export const STAGE1_INTERFACE_VERSION = '1';
const ANNOTATION_PREFIX = 'coreos.com/rkt/stage1/';
const ENTRYPOINTS = ['run', 'enter', 'stop', 'gc'] as const;

export interface Stage1Choice {
  /** --stage1-path */
  path?: string;
  /** --stage1-hash */
  hash?: string;
  /** --stage1-name */
  name?: string;
}

export interface ChosenStage1 {
  stage1: Stage1Runtime;
  /** The rendered tree in the store: <path>/rootfs is the stage1 root. */
  tree: { treeId: string; path: string };
  /** The binfmt_misc interpreter that runs it, when the host cannot natively. */
  emulator?: string;
}

/** Picks, stores and renders the stage1 image, checking it speaks this interface and can run here. */
export async function chooseStage1(
  ctx: RktContext,
  store: Store,
  choice: Stage1Choice,
  fetchOpts: FetchOptions,
  host: Host = detectHostArch(),
): Promise<ChosenStage1> {
  const given = (['path', 'hash', 'name'] as const).filter((k) => choice[k] !== undefined);
  if (given.length > 1) throw new UserError(`stage1: give one of --stage1-path, --stage1-hash and --stage1-name, not ${given.map((k) => `--stage1-${k}`).join(' and ')}`, ExitCode.usage);

  let imageId: string;
  if (choice.path !== undefined) {
    imageId = await importFile(ctx.dir, store, resolve(choice.path), '--stage1-path');
  } else if (choice.hash !== undefined) {
    imageId = await store.resolveId(choice.hash).catch((err: unknown) => {
      throw withContext(`stage1: --stage1-hash ${choice.hash}`, err);
    });
    if (!(await store.get(imageId))) throw new UserError(`stage1: --stage1-hash ${choice.hash} is not in the store`);
  } else if (choice.name !== undefined) {
    imageId = (await fetchImage(choice.name, ctx, { ...fetchOpts, signature: undefined, host: fetchHost(choice.name, host) }, store)).id;
  } else {
    imageId = await importFile(ctx.dir, store, await findDefault(ctx, host), 'stage1');
  }

  const manifest = await store.manifest(imageId);
  const { entrypoints, arch, emulator } = checkStage1(manifest, host);
  const tree = await store.renderTree(imageId);
  return { stage1: { imageId, treeId: tree.treeId, name: manifest.name, arch, entrypoints }, tree, ...(emulator ? { emulator } : {}) };
}

/** What a stage1's manifest must say (pure, for tests): the interface version, the entrypoints, an arch this host runs. */
export function checkStage1(manifest: ImageManifest, host: Host): { entrypoints: Stage1Runtime['entrypoints']; arch: string; emulator?: string } {
  const what = `stage1 ${manifest.name}`;
  const version = getAnnotation(manifest.annotations, `${ANNOTATION_PREFIX}interface-version`);
  if (version === undefined) {
    throw new UserError(`${what} has no ${ANNOTATION_PREFIX}interface-version annotation: it is not a stage1 image for this rkt`);
  }
  if (version !== STAGE1_INTERFACE_VERSION) {
    throw new UserError(`${what} speaks stage1 interface version ${version}; this rkt speaks ${STAGE1_INTERFACE_VERSION} (docs/stage1-interface.md)`);
  }
  const entry = (name: (typeof ENTRYPOINTS)[number]): string => {
    const path = getAnnotation(manifest.annotations, `${ANNOTATION_PREFIX}${name}`);
    if (path === undefined) throw new UserError(`${what} has no ${ANNOTATION_PREFIX}${name} annotation`);
    if (!path.startsWith('/')) throw new UserError(`${what}: ${ANNOTATION_PREFIX}${name} "${path}" must be an absolute path`);
    return path;
  };
  const entrypoints = { run: entry('run'), enter: entry('enter'), stop: entry('stop'), gc: entry('gc') };
  const os = getLabel(manifest.labels, 'os');
  if (os !== undefined && os !== 'linux') throw new UserError(`${what} is for os=${os}; a stage1 runs on linux`);
  const arch = getLabel(manifest.labels, 'arch');
  if (arch === undefined) throw new UserError(`${what} has no arch label: a stage1 holds native code for one arch`);
  if (canRunArch(host.arch, arch)) return { entrypoints, arch };
  const emulator = binfmtHandlerFor(arch);
  if (emulator === undefined) {
    throw new UserError(`${what} is for ${arch}, which this ${host.arch} host cannot run (no binfmt_misc handler for it); use the stage1 for ${host.arch}`);
  }
  return { entrypoints, arch, emulator };
}

/** Where the default stage1 is looked for, in order: each arch this host runs (its own first, then emulated ones) in each directory. */
export function defaultStage1Candidates(ctx: RktContext, host: Host): string[] {
  return [...stage1Files(ctx, runnableArchs(host.arch)), ...stage1Files(ctx, emulatedArchs(host))];
}

/** The stage1 arches this host runs only through a binfmt_misc handler. */
function emulatedArchs(host: Host): string[] {
  return ['aarch64', 'armv7l', 'armv6l', 'amd64'].filter((a) => !canRunArch(host.arch, a) && binfmtHandlerFor(a) !== undefined);
}

function stage1Files(ctx: RktContext, archs: readonly string[]): string[] {
  const dirs = [...new Set(stage1Dirs(ctx))];
  return archs.flatMap((arch) => dirs.map((dir) => join(dir, `stage1-${arch}.aci`)));
}

function stage1Dirs(ctx: RktContext): string[] {
  const dirs: string[] = [];
  // The bundle: dist/rkt beside dist/stage1-<arch>.aci; through a symlink such as
  // /usr/bin/rkt, beside the file it names too.
  if (process.argv[1]) {
    const invoked = resolve(process.argv[1]);
    dirs.push(dirname(invoked));
    const real = realpathOrSelf(invoked);
    if (real !== invoked) dirs.push(dirname(real));
  }
  // From the sources (tsx): src/stage0/ -> the repository's dist/. In the bundle this
  // module's URL is the bundle's own, already covered above.
  if (import.meta.url.endsWith('.ts')) dirs.push(fileURLToPath(new URL('../../dist/', import.meta.url)).replace(/\/$/, ''));
  dirs.push(join(ctx.systemConfig, 'stage1-images'));
  return dirs;
}

/** The first of defaultStage1Candidates that exists; the emulated ones (a scan of binfmt_misc) only when no native one does. */
async function findDefault(ctx: RktContext, host: Host): Promise<string> {
  const found = (await firstExisting(stage1Files(ctx, runnableArchs(host.arch)))) ?? (await firstExisting(stage1Files(ctx, emulatedArchs(host))));
  if (found !== undefined) return found;
  const dirs = [...new Set(stage1Dirs(ctx))];
  throw new UserError(
    `stage1: no stage1-${host.arch}.aci in ${dirs.join(', ')}; run \`npm run build\` to make one, or pass --stage1-path FILE`,
  );
}

async function firstExisting(files: readonly string[]): Promise<string | undefined> {
  for (const file of files) {
    if (await access(file).then(() => true, () => false)) return file;
  }
  return undefined;
}

/**
 * Stores a stage1 ACI file as it is (see the comment at the top: no signature check),
 * once: the image a file holds is remembered with the file's identity, so later pods
 * neither read nor hash the file again while it stays the same.
 */
async function importFile(dir: string, store: Store, file: string, what: string): Promise<string> {
  const fail = (err: NodeJS.ErrnoException): never => {
    if (err.code === 'ENOENT') throw new UserError(`stage1: ${what} ${file}: no such file`, ExitCode.usage);
    throw withContext(`stage1: ${what} ${file}`, err);
  };
  const identity = fileIdentity(await stat(file, { bigint: true }).catch(fail));
  const known = importedFiles(dir)[file];
  if (identity !== undefined && known?.identity === identity && (await store.get(known.id))) return known.id;
  const { id } = await store.writeAci(createReadStream(file)).catch(fail);
  if (identity !== undefined) writeCache(dir, IMPORTED_FILES, { ...importedFiles(dir), [file]: { identity, id } });
  return id;
}

const IMPORTED_FILES = 'stage1-files';
/** A file changed less than this long ago may change again within one tick of its ctime. */
const SETTLE_MS = 2000;

/** The stage1 files imported so far, by path, each with its identity then and its image ID. */
function importedFiles(dir: string): Partial<Record<string, { identity: string; id: string }>> {
  const files = readCache(dir, IMPORTED_FILES);
  return typeof files === 'object' && files !== null ? files : {};
}

/**
 * What tells a file's contents apart without reading them: any write changes its size,
 * mtime or ctime (which no one can set), a replacement its inode. Undefined for a file
 * changed in the last SETTLE_MS, whose next write could fall in the same clock tick and
 * leave its times as they are.
 */
function fileIdentity(st: BigIntStats): string | undefined {
  if (Date.now() - Number(st.ctimeMs) < SETTLE_MS) return undefined;
  return [st.dev, st.ino, st.size, st.mtimeNs, st.ctimeNs].join(':');
}

/** The platform to fetch a --stage1-name for: its arch label, when that arch runs here only through binfmt_misc. */
function fetchHost(name: string, host: Host): Host {
  let arch: string | undefined;
  try {
    arch = parseImageRef(name).labels['arch'];
  } catch {
    return host;
  }
  if (arch === undefined || canRunArch(host.arch, arch) || binfmtHandlerFor(arch) === undefined) return host;
  return { os: host.os, arch };
}

function realpathOrSelf(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return path;
  }
}
