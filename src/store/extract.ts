import { lstat, mkdir, readdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Readable } from 'node:stream';
import type { AciEntry } from '../appc/aci-entry.ts';
import { readAci } from '../appc/aci-reader.ts';
import { planRender, type PlannedEntry, type RenderPlan } from '../appc/render.ts';
import { UserError } from '../util/errors.ts';
import { log } from '../util/log.ts';
import { TreeWriter, type LinkableType } from './extract-entry.ts';
import { TreeRoot } from './extract-path.ts';
import { metaOf, plannedDirectories, rootfsPath, scanLayer, type ScannedLayer } from './extract-scan.ts';

// Renders an image and its dependencies onto disk. Pass 1 reads every layer's entry
// list and plans which layer provides each path (planRender: upper layers win,
// whitelists filter, symlinks are replaced, never followed). Then every directory is
// made, owner-only; pass 2 streams each layer again and writes exactly the entries the
// plan gave it; last, directories get their owners, modes and mtimes, children before
// parents, so a read-only directory never blocks a write beneath it.
//
// Not applied: xattrs. tar-stream decodes pax records as UTF-8, which mangles binary
// values such as security.capability, and Node has no lsetxattr; a wrong capability
// set is worse than none. Skipped entries are counted and warned about once.
//
// Nothing is fsynced here: the caller makes the finished tree durable once with
// syncTree (src/sys/sync-tree.ts). On failure dest is left partly written for the
// caller to remove.

export interface ExtractLayer {
  id: string;
  depth: number;
  pathWhitelist: string[];
  /** The ACI bytes, compressed or not. */
  open(): Promise<Readable>;
}

export interface ExtractOptions {
  /** Write the rootfs contents straight into dest, without the manifest. */
  rootfsOnly?: boolean;
  /** Make device nodes (only as root); otherwise they are skipped. */
  devices?: boolean;
}

export interface ExtractReport {
  /** Device nodes not made (and hard links to them), since devices were not asked for or we are not root. */
  skippedDevices: number;
  /** Entries whose xattrs were not applied. */
  skippedXattrs: number;
}

/** Renders `layers` (render order, lowest first, as renderSteps gives) into `dest`, which must not exist or be empty. */
export async function extractLayers(layers: ExtractLayer[], dest: string, opts: ExtractOptions = {}): Promise<ExtractReport> {
  if (layers.length === 0) throw new UserError('extract: no image to extract');
  const scanned: ScannedLayer[] = [];
  for (const layer of layers) scanned.push(await scanLayer(await layer.open()));
  const plan = planRender(layers.map((l, i) => ({ id: l.id, depth: l.depth, pathWhitelist: l.pathWhitelist, entries: scanned[i]!.entries })));
  await prepareDest(dest);
  const asRoot = process.geteuid?.() === 0;
  const destRoot = TreeRoot.open(dest);
  try {
    const destWriter = new TreeWriter(destRoot, asRoot);
    if (opts.rootfsOnly) return await render(layers, scanned, plan, destWriter, Boolean(opts.devices) && asRoot);
    await destWriter.mkdir('rootfs');
    const rootfs = destRoot.sub('rootfs');
    try {
      const report = await render(layers, scanned, plan, new TreeWriter(rootfs, asRoot), Boolean(opts.devices) && asRoot);
      await destWriter.file('manifest', { mode: 0o644, uid: 0, gid: 0 }, [scanned.at(-1)!.manifestBytes]);
      return report;
    } finally {
      rootfs.close();
    }
  } finally {
    destRoot.close();
  }
}

async function render(layers: ExtractLayer[], scanned: ScannedLayer[], plan: RenderPlan, writer: TreeWriter, devices: boolean): Promise<ExtractReport> {
  const dirs = plannedDirectories(plan, scanned);
  for (const [path] of dirs) await writer.mkdir(path);
  const placer = new Placer(writer, plan, devices);
  for (const [i, layer] of layers.entries()) {
    const { imageId } = await readAci(await layer.open(), (entry, body) => placer.place(i, entry, body));
    if (imageId !== scanned[i]!.imageId) throw changed(layer);
  }
  for (const [path, meta] of dirs.reverse()) writer.directoryMeta(path, meta);
  writer.directoryMeta('', scanned.at(-1)!.root);
  placer.warn();
  return placer.report;
}

/** Writes the entries a layer provides, in archive order, as pass 2 streams it. */
class Placer {
  readonly report: ExtractReport = { skippedDevices: 0, skippedXattrs: 0 };
  readonly #writer: TreeWriter;
  readonly #plan: RenderPlan;
  readonly #byPath: Map<string, PlannedEntry>;
  readonly #devices: boolean;
  /** Skipped device nodes, so that hard links to them are skipped too. */
  readonly #skipped = new Set<string>();

  constructor(writer: TreeWriter, plan: RenderPlan, devices: boolean) {
    this.#writer = writer;
    this.#plan = plan;
    this.#byPath = new Map(plan.entries.map((e) => [e.path, e]));
    this.#devices = devices;
  }

  async place(layer: number, entry: AciEntry, body: Readable): Promise<void> {
    const rel = rootfsPath(entry.path);
    const planned = rel === undefined ? undefined : this.#plan.byLayer[layer]!.get(rel);
    if (planned === undefined || planned.type === 'directory') return;
    // The same bytes were planned in pass 1; the image ID check after the pass confirms it.
    if (planned.type !== entry.type) throw new UserError(`extract: "${entry.path}" is a ${entry.type} now but was a ${planned.type} when planned`);
    if (entry.xattrs) this.report.skippedXattrs++;
    const meta = metaOf(entry);
    const path = planned.path;
    switch (entry.type) {
      case 'file':
        return this.#writer.file(path, meta, body);
      case 'symlink':
        return this.#writer.symlink(path, entry.linkname ?? '', meta);
      case 'link':
        return this.#link(path, planned.linkTo!);
      case 'fifo':
        return this.#writer.node(path, 'fifo', meta);
      case 'character-device':
      case 'block-device':
        if (this.#devices) return this.#writer.node(path, entry.type, meta, entry.devmajor, entry.devminor);
        return this.#skip(path);
    }
  }

  async #link(path: string, target: string): Promise<void> {
    if (this.#skipped.has(target)) return this.#skip(path);
    const type = this.#byPath.get(target)?.type;
    // planRender points links at their final, non-link target, written earlier by the same layer.
    if (type === undefined || type === 'directory' || type === 'link') throw new UserError(`extract: hard link "${path}" has no target in the plan`);
    await this.#writer.link(path, target, type satisfies LinkableType);
  }

  #skip(path: string): void {
    this.#skipped.add(path);
    this.report.skippedDevices++;
  }

  /** One warning line per kind of thing left out, with a stable code. */
  warn(): void {
    const { skippedDevices, skippedXattrs } = this.report;
    if (skippedDevices > 0) {
      log().warn({ code: 'EXTRACT_DEVICES_SKIPPED', count: skippedDevices }, `extract: skipped ${skippedDevices} device nodes (made only as root, when asked)`);
    }
    if (skippedXattrs > 0) {
      log().warn({ code: 'EXTRACT_XATTRS_SKIPPED', count: skippedXattrs }, `extract: did not apply the xattrs of ${skippedXattrs} entries`);
    }
  }
}

async function prepareDest(dest: string): Promise<void> {
  await mkdir(dirname(dest), { recursive: true });
  try {
    await mkdir(dest, 0o755);
    return;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  if (!(await lstat(dest)).isDirectory()) throw new UserError(`extract: ${dest} exists and is not a directory`);
  if ((await readdir(dest)).length > 0) throw new UserError(`extract: ${dest} is not empty`);
}

function changed(layer: ExtractLayer): UserError {
  return new UserError(`extract: image ${layer.id} changed while it was being extracted`);
}
