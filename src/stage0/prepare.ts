import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { chmod, chown, lstat, mkdir, readFile, realpath, rm } from 'node:fs/promises';
import { basename, join, posix } from 'node:path';
import { promisify } from 'node:util';
import { detectHostArch } from '../appc/arch.ts';
import { canRunArch } from '../appc/compatible-arch.ts';
import { parseImageRef } from '../appc/discovery.ts';
import { getLabel } from '../appc/labels.ts';
import { peekManifest } from '../appc/peek-manifest.ts';
import { parsePodManifest, serializePodManifest } from '../appc/pod-manifest.ts';
import type { ExposedPort, PodManifest, RuntimeApp } from '../appc/types.ts';
import type { RktContext } from '../config/context.ts';
import { fetchImage, type FetchOptions, type PullPolicy } from '../fetch/fetcher.ts';
import type { Host } from '../fetch/match.ts';
import { classifySource } from '../fetch/source.ts';
import { preparePodMetadata } from '../metadata/registry.ts';
import { POD_FILES, overlayDirOf } from '../pod/layout.ts';
import { RUNTIME_VERSION, type AppRuntime, type NetMode, type PodDns, type PodHosts, type PodRuntime } from '../pod/runtime.ts';
import { createEmbryo } from '../pod/pods.ts';
import { Store } from '../store/store.ts';
import type { FileLock } from '../sys/flock.ts';
import { binfmtHandlerFor } from '../sys/kernel-features.ts';
import { overlayVerdict } from '../sys/overlay-verdict.ts';
import { writeDataAtomic } from '../util/atomic-file.ts';
import { ExitCode, UserError, withContext } from '../util/errors.ts';
import type { AppArgs } from './app-args.ts';
import { loadPodEnv, resolveAppRuntime } from './app-runtime.ts';
import { buildPodManifest, checkHostname, reifyPodManifest, type BuiltPod, type ResolvedImage } from './pod-manifest-build.ts';
import { podEtcContents } from './dns.ts';
import { resolvePorts } from './network.ts';
import { mkdirInRoot } from './secure-path.ts';
import { chooseStage1, type Stage1Choice } from './stage1-image.ts';

// stage0's prepare (rkt prepare, and the first half of rkt run): from the command line
// to a pod directory in pods/prepare/ that holds everything the run needs
// (docs/stage1-interface.md, "The pod directory"):
//
//   1. fetch every image (an arch the host cannot run natively only through a
//      binfmt_misc handler, with a notice), build the reified pod manifest;
//   2. choose the stage1 image;
//   3. create the pod (locked), render the trees, decide overlay or copy;
//   4. write POD/pod and POD/runtime.json last.
//
// Any failure after the pod exists removes it and releases the lock, so nothing
// half-made remains; a kill -9 leaves an unlocked prepare/ directory, which gc collects.

const execFileAsync = promisify(execFile);

export interface PrepareRequest {
  /** The images and their flags (splitRunArgs); empty with podManifest. */
  apps: AppArgs[];
  /** --pod-manifest FILE: the apps and volumes come from it. */
  podManifest?: string;
  /** --volume values, as written. */
  volumes?: string[];
  /** --set-env NAME=VALUE values. */
  setEnv?: string[];
  /** --set-env-file files. */
  setEnvFiles?: string[];
  /** --inherit-env */
  inheritEnv?: boolean;
  pullPolicy: PullPolicy;
  /** How images are fetched: ca, resolve, progress, retries (see src/cli/network-options.ts). */
  fetch?: Omit<FetchOptions, 'pullPolicy' | 'signature' | 'host'>;
  stage1?: Stage1Choice;
  /** --no-overlay: copy the trees into the pod instead of mounting overlays. */
  noOverlay?: boolean;
  /** Default rkt-<uuid>, as CoreOS rkt. */
  hostname?: string;
  net: NetMode;
  /** With net private: the networks by name (--net=default,NAME). */
  networks?: string[];
  /** --port: the pod manifest's ports, resolved against the apps' ports at start. */
  ports?: ExposedPort[];
  interactive: boolean;
  /** --dns, --dns-search, --dns-opt, checked (dns.ts parseDnsFlags). */
  dns?: PodDns | undefined;
  /** --hosts-entry, checked (dns.ts parseHostsFlags). */
  hosts?: PodHosts | undefined;
  /** The platform to run on; default this host's (tests pretend to be a Pi). */
  host?: Host;
}

export interface PreparedPod {
  uuid: string;
  /** pods/prepare/<uuid> */
  path: string;
  /** Still held: the caller moves the pod on (prepared/ or run/) and hands the lock over. */
  lock: FileLock;
  runtime: PodRuntime;
  manifest: PodManifest;
}

export async function preparePod(ctx: RktContext, req: PrepareRequest): Promise<PreparedPod> {
  checkRequest(req);
  const host = req.host ?? detectHostArch();
  const notices = new Notices(ctx, host);
  const podEnv = await loadPodEnv({ setEnv: req.setEnv, setEnvFiles: req.setEnvFiles, inheritEnv: req.inheritEnv });
  const store = await Store.open(ctx.dir);
  const fetchOpts: FetchOptions = { ...req.fetch, pullPolicy: req.pullPolicy };

  let built: BuiltPod;
  let images: ResolvedImage[];
  if (req.podManifest !== undefined) {
    const template = await readPodManifestFile(req.podManifest);
    images = [];
    for (const ra of template.apps) images.push(await storedImage(store, ra, host, notices));
    built = reifyPodManifest(template, images);
  } else {
    images = [];
    for (const app of req.apps) images.push(await fetchAppImage(ctx, store, app, fetchOpts, host, notices));
    built = buildPodManifest({ images, apps: req.apps, volumes: req.volumes ?? [] });
  }
  for (const line of built.warnings) ctx.warn(line);
  const manifest = req.ports?.length ? { ...built.manifest, ports: req.ports } : built.manifest;
  // A --port must name an app's port (checked again at start, against the stored trees).
  resolvePorts(manifest, new Map(manifest.apps.map((ra, i) => [ra.name, ra.app?.ports ?? images[i]?.manifest.app?.ports ?? []])));
  // One terminal, one app: stage1 makes the app its session leader.
  if (req.interactive && manifest.apps.length > 1) throw new UserError('--interactive runs one app: give one image', ExitCode.usage);
  await checkHostVolumes(manifest);

  const chosen = await chooseStage1(ctx, store, req.stage1 ?? {}, fetchOpts, host);
  if (chosen.emulator) notices.emulated(chosen.stage1.arch, chosen.emulator, 'the stage1');

  const pod = await createEmbryo(ctx.dir);
  try {
    const apps: AppRuntime[] = [];
    const trees: string[] = [];
    for (const [i, ra] of manifest.apps.entries()) {
      const image = images[i]!;
      const tree = await store.renderTree(image.id);
      trees.push(tree.path);
      apps.push(
        resolveAppRuntime({
          runtimeApp: ra,
          imageApp: image.manifest.app,
          imageName: image.name,
          imageId: image.id,
          tree,
          podEnv,
          appEnv: req.apps[i]?.environment ?? [],
        }),
      );
    }
    // POD/mds-token; AC_METADATA_URL only while a metadata service runs (docs/metadata.md).
    const metadataUrl = await preparePodMetadata(ctx.dir, pod.path);
    if (metadataUrl !== undefined) {
      for (const a of apps) a.env = [...a.env.filter((e) => !e.startsWith('AC_METADATA_URL=')), `AC_METADATA_URL=${metadataUrl}`];
    }
    const overlay = decideOverlay(ctx, pod.path, req.noOverlay ?? false);
    if (overlay) {
      await makeOverlayDirs(pod.path, [overlayDirOf(), ...apps.map((a) => overlayDirOf(a.name))]);
      await mkdir(join(pod.path, POD_FILES.stage1Rootfs), { recursive: true, mode: 0o755 });
    } else {
      await copyTrees(pod.path, join(chosen.tree.path, 'rootfs'), apps.map((a, i) => ({ name: a.name, rootfs: join(trees[i]!, 'rootfs') })));
    }
    await makeEmptyVolumes(pod.path, manifest);
    await mkdir(join(pod.path, POD_FILES.rkt), { mode: 0o755 });

    const runtime: PodRuntime = {
      version: RUNTIME_VERSION,
      uuid: pod.uuid,
      createdAt: new Date().toISOString(),
      stage1: chosen.stage1,
      apps,
      overlay,
      options: {
        hostname: req.hostname ?? `rkt-${pod.uuid}`,
        net: req.net,
        ...(req.networks ? { networks: req.networks } : {}),
        interactive: req.interactive,
        ...(req.dns ? { dns: req.dns } : {}),
        ...(req.hosts ? { hosts: req.hosts } : {}),
      },
    };
    // POD/resolv.conf and POD/hosts, which the apps get read-only (docs/networking.md).
    for (const [file, text] of podEtcContents(runtime.options, readHostFile)) {
      await writeDataAtomic(join(pod.path, file), text, { syncDir: false });
    }
    // One sync of the pod directory, with the second file, makes both durable.
    await writeDataAtomic(join(pod.path, POD_FILES.manifest), serializePodManifest(manifest), { syncDir: false });
    await writeDataAtomic(join(pod.path, POD_FILES.runtime), `${JSON.stringify(runtime, null, 2)}\n`);
    return { uuid: pod.uuid, path: pod.path, lock: pod.lock, runtime, manifest };
  } catch (err) {
    await rm(pod.path, { recursive: true, force: true }).catch(() => undefined);
    pod.lock.release();
    throw err;
  }
}

/** The host's /etc/resolv.conf or /etc/hosts, for --dns=host and --hosts-entry=host. */
function readHostFile(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    const flag = file === '/etc/hosts' ? '--hosts-entry=host' : '--dns=host';
    throw new UserError(`${flag}: cannot read the host's ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

function checkRequest(req: PrepareRequest): void {
  if (req.podManifest !== undefined) {
    if (req.apps.length > 0) {
      throw new UserError('--pod-manifest gives the apps: images and app flags cannot be given with it', ExitCode.usage);
    }
    if ((req.volumes ?? []).length > 0) throw new UserError('--pod-manifest gives the volumes: --volume cannot be given with it', ExitCode.usage);
  } else if (req.apps.length === 0) {
    throw new UserError('run: name at least one image (or give --pod-manifest)', ExitCode.usage);
  }
  if (req.interactive && req.apps.length > 1) throw new UserError('--interactive runs one app: give one image', ExitCode.usage);
  if (req.hostname !== undefined) checkHostname(req.hostname);
}

/** The "running X through qemu" notices, one per arch. */
class Notices {
  readonly #seen = new Set<string>();
  constructor(
    readonly ctx: RktContext,
    readonly host: Host,
  ) {}

  emulated(arch: string, interpreter: string, what: string): void {
    if (this.#seen.has(arch)) return;
    this.#seen.add(arch);
    this.ctx.warn(`rkt: running ${what === 'image' ? `${arch} image` : `${what} (${arch})`} on ${this.host.arch} through ${interpreterName(interpreter)} (binfmt_misc)`);
  }

  /** Throws unless `arch` runs here, natively or through binfmt_misc (with a notice). */
  check(image: string, arch: string | undefined): void {
    if (arch === undefined || canRunArch(this.host.arch, arch)) return;
    const handler = binfmtHandlerFor(arch);
    if (handler === undefined) throw cannotRun(image, arch, this.host);
    this.emulated(arch, handler, 'image');
  }
}

/**
 * A binfmt_misc interpreter as users know it: Debian's qemu-user-binfmt registers
 * wrappers like /usr/libexec/qemu-binfmt/arm-binfmt-P for qemu-arm.
 */
export function interpreterName(path: string): string {
  const name = basename(path);
  const wrapped = /^(.+)-binfmt-P$/.exec(name);
  return wrapped ? `qemu-${wrapped[1]}` : name;
}

function cannotRun(image: string, arch: string, host: Host): UserError {
  return new UserError(
    `${image} is for ${arch}, which this ${host.arch} host runs neither natively nor through binfmt_misc (install qemu-user-binfmt), or fetch the ${host.arch} image`,
  );
}

/** Fetches an app's image for the platform it needs (see the top comment), and checks it can run here. */
async function fetchAppImage(ctx: RktContext, store: Store, app: AppArgs, opts: FetchOptions, host: Host, notices: Notices): Promise<ResolvedImage> {
  const wanted = await plannedArch(store, app.image);
  let fetchHost = host;
  if (wanted !== undefined && !canRunArch(host.arch, wanted)) {
    if (binfmtHandlerFor(wanted) === undefined) throw cannotRun(app.image, wanted, host);
    fetchHost = { os: host.os, arch: wanted };
  }
  const record = await fetchImage(app.image, ctx, { ...opts, host: fetchHost, ...(app.signature ? { signature: app.signature } : {}) }, store);
  const manifest = await store.manifest(record.id);
  notices.check(manifest.name, getLabel(manifest.labels, 'arch'));
  return { id: record.id, name: record.name, labels: record.labels, manifest };
}

/**
 * The arch an image argument asks for, where it can be known before fetching: a name's
 * arch label, a stored image's, a local file's manifest. fetchImage matches images
 * against the platform it fetches for, so an image for an arch that runs here only
 * emulated has to be asked for as that arch. undefined: the host's (a URL, a name
 * without an arch, anything unreadable, which the fetch then reports).
 */
async function plannedArch(store: Store, ref: string): Promise<string | undefined> {
  try {
    const source = classifySource(ref);
    switch (source.kind) {
      case 'name':
        return parseImageRef(source.ref).labels['arch'];
      case 'id':
        return getLabel((await store.manifest(await store.resolveId(source.id))).labels, 'arch');
      case 'file':
        return getLabel((await peekManifest(source.path)).labels, 'arch');
      case 'url':
        return undefined;
    }
  } catch {
    return undefined;
  }
}

async function readPodManifestFile(file: string): Promise<PodManifest> {
  const text = await readFile(file).catch((err: NodeJS.ErrnoException) => {
    throw new UserError(`--pod-manifest ${file}: ${err.code === 'ENOENT' ? 'no such file' : err.message}`, ExitCode.usage);
  });
  try {
    return parsePodManifest(text);
  } catch (err) {
    throw withContext(`--pod-manifest ${file}`, err);
  }
}

/**
 * The stored image of a --pod-manifest app: by its ID, or the newest stored image of
 * its name and labels that can run here. A pod manifest is run from the store only.
 */
async function storedImage(store: Store, ra: RuntimeApp, host: Host, notices: Notices): Promise<ResolvedImage> {
  const { id, name, labels } = ra.image;
  let imageId: string;
  if (id !== undefined) {
    const record = await store.get(id);
    if (!record) throw new UserError(`--pod-manifest: app ${ra.name}: image ${id} is not in the store; fetch it first`);
    imageId = record.id;
  } else {
    const wanted = Object.fromEntries(labels.map((l) => [l.name, l.value]));
    const runnable = (await store.findByName(name!, wanted)).filter((r) => {
      const arch = getLabel(r.labels, 'arch');
      return arch === undefined || canRunArch(host.arch, arch) || binfmtHandlerFor(arch) !== undefined;
    });
    if (runnable.length === 0) throw new UserError(`--pod-manifest: app ${ra.name}: no stored image ${name} that runs here; fetch it first`);
    imageId = runnable[0]!.id;
  }
  const manifest = await store.manifest(imageId);
  notices.check(manifest.name, getLabel(manifest.labels, 'arch'));
  return { id: imageId, name: manifest.name, labels: manifest.labels, manifest };
}

/**
 * spec/ace.md: a missing host volume source is an error, and so is a symlink as the
 * source or on its way (the ACE must not bind what a link points to).
 */
async function checkHostVolumes(manifest: PodManifest): Promise<void> {
  const volumes = [...manifest.volumes, ...manifest.apps.flatMap((a) => a.mounts.flatMap((m) => (m.appVolume ? [m.appVolume] : [])))];
  for (const v of volumes) {
    if (v.kind !== 'host' || v.source === undefined) continue;
    const source = posix.normalize(v.source).replace(/(.)\/$/, '$1');
    let real: string;
    try {
      await lstat(source);
      real = await realpath(source);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new UserError(`volume ${v.name}: source ${v.source} does not exist`);
      throw withContext(`volume ${v.name}`, err);
    }
    if (real !== source) throw new UserError(`volume ${v.name}: source ${v.source} goes through a symbolic link; name the real path, ${real}`);
  }
}

/** Whether the pod's roots are overlays: not with --no-overlay, nor where overlayfs does not work (with a notice). */
function decideOverlay(ctx: RktContext, podPath: string, noOverlay: boolean): boolean {
  if (noOverlay) return false;
  const probe = overlayVerdict(ctx.dir, podPath);
  if (probe.ok) return true;
  ctx.warn(`rkt: overlay unusable (${probe.reason}); copying the image instead: slower start, more disk`);
  return false;
}

async function makeOverlayDirs(podPath: string, dirs: readonly string[]): Promise<void> {
  for (const dir of dirs) {
    for (const sub of ['upper', 'work']) await mkdir(join(podPath, dir, sub), { recursive: true, mode: 0o755 });
  }
}

/**
 * --no-overlay: the stage1 tree copied to POD/stage1/rootfs and each app's tree to
 * /opt/stage2/<app>/rootfs in it. cp -a keeps devices, hard links, owners and xattrs,
 * and reflinks where the filesystem can. The app directories are made inside the
 * stage1 root without following its symlinks out of it.
 */
async function copyTrees(podPath: string, stage1Rootfs: string, apps: readonly { name: string; rootfs: string }[]): Promise<void> {
  const stage1Root = join(podPath, POD_FILES.stage1Rootfs);
  await mkdir(join(podPath, 'stage1'), { mode: 0o755 });
  await copyTree(stage1Rootfs, stage1Root);
  for (const app of apps) {
    const parent = mkdirInRoot(stage1Root, posix.join('/opt/stage2', app.name));
    const target = join(parent, 'rootfs');
    if (await lstat(target).then(() => true, () => false)) {
      throw new UserError(`stage1: its image already has /opt/stage2/${app.name}/rootfs; an app cannot be copied there`);
    }
    await copyTree(app.rootfs, target);
  }
}

async function copyTree(source: string, target: string): Promise<void> {
  try {
    await execFileAsync('cp', ['-a', '--reflink=auto', '--', source, target], { maxBuffer: 1 << 20 });
  } catch (err) {
    const stderr = String((err as { stderr?: unknown }).stderr ?? '').trim().split('\n')[0];
    throw new Error(`copy ${source} to ${target}: ${stderr || (err as Error).message}`, { cause: err });
  }
}

/** POD/volumes/<name> of each empty volume, with its mode and owner. */
async function makeEmptyVolumes(podPath: string, manifest: PodManifest): Promise<void> {
  const volumes = [...manifest.volumes, ...manifest.apps.flatMap((a) => a.mounts.flatMap((m) => (m.appVolume ? [m.appVolume] : [])))];
  const made = new Set<string>();
  for (const v of volumes) {
    if (v.kind !== 'empty' || made.has(v.name)) continue;
    made.add(v.name);
    const dir = join(podPath, POD_FILES.volumesDir, v.name);
    await mkdir(dir, { recursive: true });
    await chown(dir, v.uid ?? 0, v.gid ?? 0);
    // After chown, which clears set-id bits; mkdir's mode is cut by the umask.
    await chmod(dir, parseInt(v.mode ?? '0755', 8));
  }
}
